//! Write units, as DynamoDB Local bills them (`ReturnConsumedCapacity`), for each format's
//! reports (the table's and the index `by_problem`'s) and for the aggregate a flood of one
//! problem updates: the inputs of COST.md.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
use lookout::store::dynamodb::item::{self, report_item, write_units};

use crate::emulator::{self, emulator};

/// What one put of `item` costs, as DynamoDB Local bills it: the table's write units and the
/// index `by_problem`'s (a report item is written to both).
async fn put_units(client: &aws_sdk_dynamodb::Client, table: &str, item: item::Item) -> (f64, f64) {
    let out = client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
        .send()
        .await
        .unwrap();
    let consumed = out
        .consumed_capacity()
        .expect("DynamoDB Local returns consumed capacity");
    let of_table = consumed
        .table()
        .and_then(|c| c.capacity_units())
        .expect("the table's share");
    let of_index = consumed
        .global_secondary_indexes()
        .and_then(|i| i.get(item::BY_PROBLEM.name))
        .and_then(|c| c.capacity_units())
        .unwrap_or(0.0);
    (of_table, of_index)
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
    for report in crate::support::fixture_reports() {
        let item = report_item(&report, 1, 30).unwrap();
        let size = item::item_size(&item);
        let estimated = write_units(&item);
        let (billed, of_index) = put_units(&client, &table, item).await;
        assert_eq!(
            billed, estimated as f64,
            "{} ({size} bytes): DynamoDB Local bills {billed}, item::write_units says {estimated}",
            report.id
        );
        assert_eq!(
            of_index, billed,
            "{}: the index by_problem holds the whole item (projection ALL), so its write costs \
             what the table's does",
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

#[tokio::test]
async fn a_flood_of_one_problem_in_a_stream_batch_is_one_aggregate_update_of_one_unit() {
    let proxy = crate::emulator::FaultProxy::start();
    let (store, client, table) = emulator::store_at(&proxy.url, 1).await;
    let reports: Vec<lookout::report::Report> = (0..300)
        .flat_map(|i| {
            crate::support::decode_json(
                &serde_json::json!([{"type": "csp-violation", "age": i, "url": "https://example.com/",
                    "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:149.0) Gecko/20100101 Firefox/149.0",
                    "body": {"documentURL": "https://example.com/", "effectiveDirective": "img-src",
                             "blockedURL": "https://tracker.example/pixel.gif", "disposition": "report", "lineNumber": i,
                             "originalPolicy": "default-src 'self'; report-to lookout"}}]),
                "example.com",
                lookout::report::Timestamp::now(),
            )
        })
        .collect();
    lookout::store::ReportStore::put(&store, &reports)
        .await
        .unwrap();
    let event = emulator::stream_event(&table).await;
    let before = proxy.counters();
    lookout::lambda::handle_stream(&store, None, &event)
        .await
        .unwrap();
    let seen = crate::emulator::calls_since(&proxy, &before);
    let calls = |op: &str| crate::emulator::calls(&seen, op);
    let aggregates: Vec<item::Item> = client
        .scan()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .items()
        .iter()
        .filter(|i| item::s(i, item::PK).is_some_and(|pk| pk.starts_with("AGG#")))
        .cloned()
        .collect();
    assert_eq!(aggregates.len(), 1);
    assert_eq!(item::n(&aggregates[0], "count"), Some(300));
    let units = write_units(&aggregates[0]);
    eprintln!(
        "write units: a flood of 300 reports of one problem in one stream batch: {} UpdateItem, \
         {} other calls, aggregate item {} bytes ({units} unit)",
        calls("UpdateItem"),
        seen.iter()
            .filter(|(op, _)| *op != "UpdateItem")
            .map(|(op, _)| calls(op))
            .sum::<u64>(),
        item::item_size(&aggregates[0])
    );
    assert_eq!(
        calls("UpdateItem"),
        2,
        "one update per problem and batch, and the site's registration for the day (once a \
         process: the dashboard's list of sites)"
    );
    assert_eq!(units, 1);
}
