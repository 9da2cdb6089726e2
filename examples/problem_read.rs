//! What opening one problem costs on DynamoDB. Creates a table from the shipped template (its
//! index `by_problem` included), fills it through the store with REPORTS CSP reports of one
//! site over 300 problems and a rare one (50 reports, spread over the fill), then reads the
//! rare problem's first page (26 reports, as the dashboard asks: a page and one more) two ways:
//!
//! - as the store reads it: from the index, a partition holding that problem's reports alone;
//! - as it was read before the index: the type's partition, newest first, `Limit` the reports
//!   still wanted and a filter on the fingerprint, page after page until the page is found.
//!
//! Prints the fill rate, and the read units and milliseconds of each read. The second read
//! makes about REPORTS / 26 calls (each reads 26 reports of the type and keeps the rare
//! problem's): minutes at a million.
//!
//! ```sh
//! bench/dynamo-problem-read.sh [REPORTS]   # starts DynamoDB Local and runs this
//! cargo run --release --example problem_read -- ENDPOINT [REPORTS]
//! ```

use std::collections::HashMap;
use std::error::Error;
use std::time::Instant;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use futures_util::StreamExt;
use lookout::aws::AwsEndpoint;
use lookout::report::{Options, Report, ReportType, RequestMeta, Timestamp, decode, window_of};
use lookout::store::dynamodb::item::{PK, SK, report_pk};
use lookout::store::dynamodb::{DynamoSettings, DynamoStore, table};
use lookout::store::{RecentQuery, ReportStore};

const TABLE: &str = "bench";
const SITE: &str = "example.com";
/// Reports per `put`: a Reporting API batch at the deployed cap (`MaxReports`).
const BATCH: usize = 100;
/// `put`s in flight.
const IN_FLIGHT: usize = 8;
/// The common problems (one blocked origin each).
const PROBLEMS: usize = 300;
/// The rare problem's reports.
const RARE: usize = 50;
/// The dashboard's first page of a problem, and one more (is there an older page?).
const PAGE: usize = 26;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let endpoint = args
        .next()
        .ok_or("usage: problem_read ENDPOINT [REPORTS]")?;
    let n: usize = match args.next() {
        Some(n) => n.parse()?,
        None => 1_000_000,
    };
    let rare_every = (n / RARE).max(1);

    let client = AwsEndpoint::new(Some(endpoint), Some("us-east-1".into()))
        .dynamodb()
        .await;
    table::create(&client, TABLE).await?;
    let store = DynamoStore::new(client.clone(), DynamoSettings::new(TABLE));

    let started = Instant::now();
    let mut written = 0;
    let mut puts = futures_util::stream::iter(0..n.div_ceil(BATCH))
        .map(|b| {
            let store = &store;
            async move {
                let batch = reports(b * BATCH..n.min((b + 1) * BATCH), rare_every)?;
                store.put(&batch).await?;
                Result::Ok(batch.len())
            }
        })
        .buffer_unordered(IN_FLIGHT);
    while let Some(stored) = puts.next().await {
        let before = written;
        written += stored?;
        if written / 100_000 > before / 100_000 {
            eprintln!("{written} reports stored");
        }
    }
    let fill = started.elapsed().as_secs_f64();
    println!(
        "filled {written} reports ({} of the rare problem) in {fill:.0} s: {:.0} reports/s",
        n.div_ceil(rare_every),
        written as f64 / fill
    );

    let fingerprint = reports(0..1, rare_every)?
        .pop()
        .ok_or("the rare report decodes")?
        .fingerprint;
    let since = Timestamp(Timestamp::now().millis() - 86_400_000);

    let units = store.read_units();
    let t = Instant::now();
    let page = store
        .recent(&RecentQuery {
            site: SITE.into(),
            report_type: Some(ReportType::CspViolation),
            since,
            limit: PAGE,
            classification: None,
            fingerprint: Some(fingerprint.clone()),
        })
        .await?;
    println!(
        "index by_problem: {} reports, {:.1} read units, {:.1} ms",
        page.len(),
        store.read_units() - units,
        t.elapsed().as_secs_f64() * 1000.0
    );

    let t = Instant::now();
    let (found, calls, units) = filtered_read(&client, since, &fingerprint).await?;
    println!(
        "type partition filtered by fingerprint (before the index): {found} reports, \
         {units:.1} read units, {calls} Query calls, {:.1} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}

/// Reports `range` of the fill, decoded from one Reporting API batch as the collector would:
/// report `i` is the rare problem's when `i` is a multiple of `rare_every`, else one of the
/// [`PROBLEMS`] common ones. Every report is distinct (its line number).
fn reports(range: std::ops::Range<usize>, rare_every: usize) -> Result<Vec<Report>> {
    let items: Vec<String> = range
        .map(|i| {
            let blocked = if i % rare_every == 0 {
                "https://rare.example.org/widget.js".to_owned()
            } else {
                format!("https://cdn{}.example.net/lib.js", i % PROBLEMS)
            };
            format!(
                r#"{{"type":"csp-violation","age":{age},"url":"https://{site}/app","user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36","body":{{"blockedURL":"{blocked}","disposition":"report","documentURL":"https://{site}/app","effectiveDirective":"script-src-elem","originalPolicy":"script-src 'self'; report-to lookout","statusCode":200,"lineNumber":{i}}}}}"#,
                age = i % 1000,
                site = SITE,
            )
        })
        .collect();
    let body = format!("[{}]", items.join(","));
    let meta = RequestMeta::new(Some(SITE), Timestamp::now());
    let opts = Options {
        max_reports: BATCH,
        ..Options::default()
    };
    Ok(decode(body.as_bytes(), &meta, &opts)?.reports)
}

/// The rare problem's first page as the store read it before the index: the type's
/// partition, newest first, `Limit` the reports still wanted, filtered by fingerprint, page
/// after page until the page is found or the partition ends. Returns the reports found, the
/// calls made and the read units they cost.
async fn filtered_read(
    client: &Client,
    since: Timestamp,
    fingerprint: &str,
) -> Result<(usize, usize, f64)> {
    let (mut found, mut calls, mut units) = (0, 0, 0.0);
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let page = client
            .query()
            .table_name(TABLE)
            .key_condition_expression("#pk = :pk AND #sk >= :since")
            .filter_expression("#f = :f")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_names("#f", "fingerprint")
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(report_pk(SITE, &ReportType::CspViolation, 0)),
            )
            .expression_attribute_values(":since", AttributeValue::S(window_of(since).to_string()))
            .expression_attribute_values(":f", AttributeValue::S(fingerprint.to_owned()))
            .scan_index_forward(false)
            .limit(i32::try_from(PAGE - found)?)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .set_exclusive_start_key(start.take())
            .send()
            .await?;
        calls += 1;
        units += page
            .consumed_capacity()
            .and_then(|c| c.capacity_units())
            .unwrap_or(0.0);
        found += page.items().len();
        match page.last_evaluated_key() {
            Some(k) if found < PAGE => start = Some(k.clone()),
            _ => break,
        }
    }
    Ok((found, calls, units))
}
