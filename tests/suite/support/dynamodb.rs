//! A DynamoDB table's items, read back as they are stored.

use aws_sdk_dynamodb::Client;
use lookout::store::dynamodb::item;

/// Every item of a table, over all scan pages.
pub async fn scan_all(client: &Client, table: &str) -> Vec<item::Item> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            // Small pages: moto takes seconds for a page of a thousand items.
            .limit(200)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        out.extend(page.items().iter().cloned());
        match page.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => break,
        }
    }
    out
}

/// The report items among a table's items (not the aggregates).
pub fn report_items(items: &[item::Item]) -> Vec<&item::Item> {
    items.iter().filter(|i| item::is_report_item(i)).collect()
}
