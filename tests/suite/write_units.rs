//! Write units, as DynamoDB Local bills them (`ReturnConsumedCapacity`), for each format's
//! reports and for the aggregate a flood of one problem updates: the inputs of COST.md.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
use lookout::store::dynamodb::item::{self, report_item, write_units};

use crate::emulator::{self, emulator};

async fn put_units(client: &aws_sdk_dynamodb::Client, table: &str, item: item::Item) -> f64 {
    client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap()
        .consumed_capacity()
        .and_then(|c| c.capacity_units())
        .expect("DynamoDB Local returns consumed capacity")
}

#[tokio::test]
async fn each_formats_report_item_costs_the_write_units_cost_md_counts() {
    assert_eq!(
        emulator().kind,
        "local",
        "write units are DynamoDB Local's (moto's are fixed numbers)"
    );
    let (_store, client, table) = emulator::store_with(1).await;
    let mut by_kind: BTreeMap<String, (usize, f64, usize)> = BTreeMap::new();
    for report in crate::archive::fixture_reports() {
        let item = report_item(&report, 1, 30);
        let size = item::item_size(&item);
        let estimated = write_units(&item);
        let billed = put_units(&client, &table, item).await;
        assert_eq!(
            billed, estimated as f64,
            "{} ({size} bytes): DynamoDB Local bills {billed}, item::write_units says {estimated}",
            report.id
        );
        let format = serde_json::to_value(report.format).unwrap();
        let kind = format!(
            "{} ({})",
            report.report_type.as_str(),
            format.as_str().unwrap()
        );
        let e = by_kind.entry(kind).or_default();
        e.0 += 1;
        e.1 = e.1.max(billed);
        e.2 = e.2.max(size);
    }
    for (kind, (n, units, size)) in &by_kind {
        eprintln!(
            "write units: {kind}: {n} reports, at most {units} unit(s), largest {size} bytes"
        );
    }
}
