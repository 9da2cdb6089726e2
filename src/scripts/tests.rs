use std::collections::BTreeMap;

use super::render::{csv, markdown};
use super::*;
use crate::report::ReportType;

const A: &str = "sha256-kXpLomJzl7/XaYNWb9qqrD03SIV3MeQ858OKe5bGOks=";
const B: &str = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
const DAY: i64 = 86_400_000;

fn group(t: ReportType, group: &str, count: u64, first: i64, last: i64) -> GroupSummary {
    GroupSummary {
        report_type: t,
        fingerprint: crate::report::fingerprint(group),
        group: group.to_owned(),
        count,
        first_seen: Timestamp(first),
        last_seen: Timestamp(last),
        browsers: vec!["Chrome 156".into()],
        visitors: 2,
        dispositions: Vec::new(),
        classification: None,
        policy_version: None,
        days: BTreeMap::new(),
    }
}

fn hash_group(url: &str, hash: &str, count: u64, first: i64, last: i64) -> GroupSummary {
    group(
        ReportType::CspHash,
        &format!("csp-hash script {url} {hash}"),
        count,
        first,
        last,
    )
}

fn authorization(url: &str, hash: &str, at: i64) -> Authorization {
    Authorization {
        site: "shop.example".into(),
        url: url.into(),
        hash: Some(hash.into()),
        reason: "payment form | vendor=Acme".into(),
        by: "=cmd|' /C calc'!A0".into(),
        at: Timestamp(at),
    }
}

#[test]
fn contents_merge_by_url_with_their_status() {
    let checkout = "https://shop.example/checkout.js";
    let widget = "https://cdn.example/w.js";
    let groups = [
        hash_group(checkout, A, 10, 0, 5 * DAY),
        hash_group(checkout, B, 3, 6 * DAY, 7 * DAY),
        hash_group(widget, "-", 4, 0, DAY),
        hash_group(widget, A, 1, 0, DAY),
        group(
            ReportType::CspHash,
            "csp-hash script https://old.example/x.js",
            9,
            0,
            1,
        ),
    ];
    let scripts = build(
        &groups,
        &[],
        &[authorization(checkout, A, DAY), authorization(widget, A, 0)],
        &[group(
            ReportType::IntegrityViolation,
            &format!("integrity-violation script {checkout}"),
            2,
            0,
            DAY,
        )],
    );
    assert_eq!(
        scripts.len(),
        2,
        "a group without a hash part is not a script"
    );
    let c = &scripts[0];
    assert_eq!(c.url, checkout);
    assert_eq!(c.reports(), 13);
    assert_eq!(c.hashes[0].hash.as_deref(), Some(B), "latest first");
    assert_eq!(
        c.status,
        Status::Changed,
        "B was seen after A's authorization"
    );
    let i = c.integrity.as_ref().unwrap();
    assert_eq!(i.missing_reports, 2);
    assert_eq!(i.suggested, None, "two contents: none is stable");
    let w = &scripts[1];
    assert_eq!(w.note.as_deref(), Some(NO_HASH_NOTE));
    assert_eq!(
        w.status,
        Status::Changed,
        "its unhashed content is another one"
    );
}

#[test]
fn an_authorized_script_with_one_content_is_authorized_and_gets_its_integrity_value() {
    let url = "https://shop.example/a.js";
    let scripts = build(
        &[hash_group(url, A, 5, 0, 2 * DAY)],
        &[],
        &[authorization(url, A, DAY)],
        &[group(
            ReportType::IntegrityViolation,
            &format!("integrity-violation script {url}"),
            1,
            0,
            DAY,
        )],
    );
    assert_eq!(scripts[0].status, Status::Authorized);
    assert_eq!(
        scripts[0].integrity.as_ref().unwrap().suggested.as_deref(),
        Some(A)
    );
    let unreviewed = build(&[hash_group(url, A, 5, 0, DAY)], &[], &[], &[]);
    assert_eq!(unreviewed[0].status, Status::Unreviewed);
}

#[test]
fn a_script_known_only_from_integrity_policy_is_listed_without_contents() {
    let url = "https://cdn.example/lib.js";
    let scripts = build(
        &[],
        &[],
        &[],
        &[group(
            ReportType::IntegrityViolation,
            &format!("integrity-violation script {url}"),
            4,
            0,
            DAY,
        )],
    );
    assert_eq!(scripts.len(), 1);
    assert!(scripts[0].hashes.is_empty());
    assert_eq!(scripts[0].integrity.as_ref().unwrap().missing_reports, 4);
    assert_eq!(scripts[0].integrity.as_ref().unwrap().suggested, None);
    let csv = csv(&scripts).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
}

#[test]
fn evidence_formats_escape_what_reports_and_operators_wrote() {
    let url = "https://shop.example/a|b`c.js";
    let scripts = build(
        &[hash_group(url, A, 5, 0, DAY)],
        &[],
        &[authorization(url, A, 0)],
        &[],
    );
    let md = markdown("shop.example", Timestamp(0), Timestamp(DAY), &scripts);
    let row = md.lines().find(|l| l.contains("a\\|b")).unwrap();
    assert_eq!(
        row.matches(" | ").count() + 2,
        9,
        "the URL's pipe does not add a cell: {row}"
    );
    assert!(
        row.contains("``"),
        "a backtick in the URL widens the code span: {row}"
    );
    assert!(row.contains("payment form \\| vendor=Acme"));
    let csv = csv(&scripts).unwrap();
    let mut r = ::csv::Reader::from_reader(csv.as_bytes());
    let rec = r.records().next().unwrap().unwrap();
    assert_eq!(&rec[0], url);
    assert_eq!(
        &rec[9], "'=cmd|' /C calc'!A0",
        "no formula reaches a spreadsheet"
    );
    assert_eq!(&rec[3], A);
}
