//! The decode library through its public API: formats, quirks, filters, limits, errors.

use lookout::report::{
    self, Batch, DecodeError, Disposition, Endpoint, FilterReason, NoiseFilter, Options,
    RejectReason, ReportType, RequestMeta, SiteList, SizeLimits, SourceFormat, Timestamp,
};
use proptest::prelude::*;
use serde_json::json;

const T0: i64 = 1_795_305_600_000; // 2026-11-22T00:00:00Z

fn meta(site: Option<&str>) -> RequestMeta<'_> {
    RequestMeta {
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64; rv:149.0) Gecko/20100101 Firefox/149.0"),
        ..RequestMeta::new(site, Timestamp(T0))
    }
}

fn decode(body: &str) -> Result<Batch, DecodeError> {
    report::decode(body.as_bytes(), &meta(None), &Options::default())
}

fn one(body: &str) -> report::Report {
    let mut batch = decode(body).expect("decodes");
    assert_eq!(batch.reports.len(), 1, "{batch:?}");
    batch.reports.remove(0)
}

#[test]
fn legacy_csp_becomes_a_csp3_violation() {
    let r = one(
        r#"{"csp-report":{"document-uri":"https://example.com/a?x=1","referrer":"","blocked-uri":"https://evil.example/x.js","violated-directive":"script-src-elem","effective-directive":"script-src-elem","original-policy":"script-src 'self'","disposition":"report","status-code":200}}"#,
    );
    assert_eq!(r.report_type, ReportType::CspViolation);
    assert_eq!(r.format, SourceFormat::LegacyCsp);
    assert_eq!(r.site, "example.com");
    assert_eq!(r.url, "https://example.com/a");
    assert_eq!(r.disposition, Some(Disposition::Report));
    assert_eq!(r.body["blockedURL"], "https://evil.example/x.js");
    assert_eq!(r.body["effectiveDirective"], "script-src-elem");
    assert!(!r.body.contains_key("disposition"));
    assert_eq!(r.browser.as_deref(), Some("Firefox 149"));
    assert_eq!(r.occurred_at, r.received_at);
}

#[test]
fn missing_effective_directive_is_taken_from_violated_directive() {
    let r = one(
        r#"{"csp-report":{"document-uri":"https://e.com/","violated-directive":"style-src cdn.example.com","blocked-uri":"https://x.example/s.css"}}"#,
    );
    assert_eq!(r.body["effectiveDirective"], "style-src");
    assert_eq!(r.body["violatedDirective"], "style-src cdn.example.com");
    assert_eq!(r.disposition, None);
}

#[test]
fn empty_or_self_blocked_uri_on_scripts_is_inline() {
    for blocked in ["", "self"] {
        let body = format!(
            r#"{{"csp-report":{{"document-uri":"https://e.com/","effective-directive":"script-src","blocked-uri":"{blocked}"}}}}"#
        );
        let r = one(&body);
        assert_eq!(r.body["blockedURL"], "inline", "{blocked:?}");
        assert!(r.group.contains("'unsafe-inline'"));
    }
}

#[test]
fn the_body_decides_the_format_not_the_content_type() {
    // Same bytes, whatever header came with them: the library never looks at it.
    let r = one(
        r#"{"type":"csp-violation","url":"https://e.com/","body":{"documentURL":"https://e.com/","effectiveDirective":"img-src","blockedURL":"data","disposition":"enforce"}}"#,
    );
    assert_eq!(r.format, SourceFormat::ReportingApiSingle);
    assert_eq!(r.group, "csp-violation img-src data: https://e.com/");
}

#[test]
fn age_sets_the_occurrence_time_and_a_retry_keeps_the_id() {
    let first = report::decode(
        br#"[{"type":"deprecation","age":5000,"url":"https://e.com/","body":{"id":"websql"}}]"#,
        &meta(None),
        &Options::default(),
    )
    .unwrap()
    .reports
    .remove(0);
    assert_eq!(first.occurred_at, Timestamp(T0 - 5000));
    // Delivered again 30 s later, its age grew by 30 s.
    let later = RequestMeta {
        received_at: Timestamp(T0 + 30_000),
        ..meta(None)
    };
    let retry = report::decode(
        br#"[{"type":"deprecation","age":35000,"url":"https://e.com/","body":{"id":"websql"}}]"#,
        &later,
        &Options::default(),
    )
    .unwrap()
    .reports
    .remove(0);
    assert_eq!(retry.occurred_at, first.occurred_at);
    assert_eq!(retry.id, first.id);
    // A different problem gets a different id.
    let other =
        one(r#"[{"type":"deprecation","age":5000,"url":"https://e.com/","body":{"id":"other"}}]"#);
    assert_ne!(other.id, first.id);
}

#[test]
fn reports_that_differ_only_in_disposition_are_two_reports() {
    // A page under the same policy enforced and report-only (COEP here; CSP with the same
    // text in both headers too) gets one report for each: the disposition is part of the id.
    let batch = decode(
        r#"[{"type":"coep","age":0,"url":"https://e.com/","body":{"type":"corp","blockedURL":"https://cdn.example/x.js","destination":"script","disposition":"enforce"}},
            {"type":"coep","age":0,"url":"https://e.com/","body":{"type":"corp","blockedURL":"https://cdn.example/x.js","destination":"script","disposition":"reporting"}}]"#,
    )
    .unwrap();
    let [enforced, reported] = &batch.reports[..] else {
        panic!("{batch:?}")
    };
    assert_eq!(enforced.disposition, Some(Disposition::Enforce));
    assert_eq!(reported.disposition, Some(Disposition::Report));
    assert_eq!(enforced.body, reported.body);
    assert_ne!(enforced.id, reported.id);
    let legacy = |d: &str| {
        one(&format!(
            r#"{{"csp-report":{{"document-uri":"https://e.com/","blocked-uri":"https://x.example/a.js","effective-directive":"script-src-elem","original-policy":"script-src 'self'","disposition":"{d}"}}}}"#
        ))
    };
    assert_ne!(legacy("enforce").id, legacy("report").id);
    // A report that names none is a third case.
    let none = one(
        r#"{"csp-report":{"document-uri":"https://e.com/","blocked-uri":"https://x.example/a.js","effective-directive":"script-src-elem","original-policy":"script-src 'self'"}}"#,
    );
    assert_ne!(none.id, legacy("enforce").id);
    assert_ne!(none.id, legacy("report").id);
}

#[test]
fn user_agent_comes_from_the_report_else_the_request() {
    let r = one(
        r#"[{"type":"x-new","url":"https://e.com/","user_agent":"Mozilla/5.0 Chrome/120.0 Safari/537.36","body":{}}]"#,
    );
    assert_eq!(r.browser.as_deref(), Some("Chrome 120"));
    let r = one(r#"[{"type":"x-new","url":"https://e.com/","body":{}}]"#);
    assert_eq!(r.browser.as_deref(), Some("Firefox 149"));
}

#[test]
fn dispositions_from_three_vocabularies() {
    let cases = [
        (
            r#"{"type":"coep","url":"https://e.com/","body":{"disposition":"reporting"}}"#,
            Some(Disposition::Report),
        ),
        (
            r#"{"type":"coop","url":"https://e.com/","body":{"disposition":"enforce"}}"#,
            Some(Disposition::Enforce),
        ),
        (
            r#"{"type":"integrity-violation","url":"https://e.com/","body":{"reportOnly":false}}"#,
            Some(Disposition::Enforce),
        ),
        (
            r#"{"type":"integrity-violation","url":"https://e.com/","body":{"reportOnly":true}}"#,
            Some(Disposition::Report),
        ),
        (
            r#"{"type":"deprecation","url":"https://e.com/","body":{}}"#,
            None,
        ),
    ];
    for (body, want) in cases {
        assert_eq!(one(body).disposition, want, "{body}");
    }
}

#[test]
fn query_strings_are_stripped_unless_configured_off() {
    let body = r#"{"csp-report":{"document-uri":"https://e.com/p?token=s3cret#frag","referrer":"https://r.example/?q=1","source-file":"https://e.com/a.js?v=1","blocked-uri":"https://b.example/x?y=2","effective-directive":"img-src"}}"#;
    let r = one(body);
    let text = serde_json::to_string(&r).unwrap();
    assert!(
        !text.contains("s3cret") && !text.contains("q=1") && !text.contains("y=2"),
        "{text}"
    );
    let keep = Options {
        strip_query: false,
        ..Options::default()
    };
    let r = report::decode(body.as_bytes(), &meta(None), &keep)
        .unwrap()
        .reports
        .remove(0);
    assert_eq!(r.body["documentURL"], "https://e.com/p?token=s3cret#frag");
}

#[test]
fn noise_is_counted_not_stored() {
    let batch = decode(
        r#"[{"type":"csp-violation","url":"https://e.com/","body":{"blockedURL":"moz-extension://abc/x.js","effectiveDirective":"script-src"}},
            {"type":"intervention","url":"https://e.com/","body":{"id":"x","sourceFile":"chrome-extension://abc/y.js"}},
            {"type":"csp-violation","url":"https://e.com/","body":{"blockedURL":"https://ok.example/x.js","effectiveDirective":"script-src"}},
            {"type":"csp-violation","url":"about:blank","body":{"documentURL":"about:blank","blockedURL":"https://ok.example/x.js"}}]"#,
    )
    .unwrap();
    assert_eq!(batch.reports.len(), 1);
    let reasons: Vec<_> = batch.filtered.iter().map(|f| f.reason.clone()).collect();
    assert_eq!(
        reasons,
        vec![
            FilterReason::Noise("moz-extension://*".into()),
            FilterReason::Noise("chrome-extension://*".into()),
            FilterReason::AboutBlank,
        ]
    );
}

#[test]
fn user_patterns_and_turning_defaults_off() {
    let opts = Options {
        noise: NoiseFilter::new(false, &["*.ads.example"]).unwrap(),
        ..Options::default()
    };
    let body = br#"[{"type":"csp-violation","url":"https://e.com/","body":{"blockedURL":"https://x.ads.example/a.js"}},
                    {"type":"csp-violation","url":"https://e.com/","body":{"blockedURL":"moz-extension://abc/x.js"}}]"#;
    let batch = report::decode(body, &meta(None), &opts).unwrap();
    assert_eq!(batch.filtered.len(), 1);
    assert_eq!(batch.reports.len(), 1);
    assert_eq!(
        batch.reports[0].body["blockedURL"],
        "moz-extension://abc/x.js"
    );
}

#[test]
fn nel_reports_about_the_collector_itself_are_filtered() {
    let body = br#"[{"type":"network-error","url":"https://collector.example/r/e.com","body":{"type":"ok","phase":"application","status_code":204}},
                    {"type":"network-error","url":"https://collector.example/other","body":{"type":"ok","phase":"application"}},
                    {"type":"network-error","url":"https://e.com/r/x","body":{"type":"http.error","phase":"application"}}]"#;
    let m = RequestMeta {
        endpoint: Some(Endpoint {
            host: "collector.example",
            path: "/r/e.com",
        }),
        ..meta(Some("e.com"))
    };
    let batch = report::decode(body, &m, &Options::default()).unwrap();
    assert_eq!(batch.filtered.len(), 1);
    assert_eq!(batch.filtered[0].reason, FilterReason::OwnEndpoint);
    assert_eq!(batch.reports.len(), 2);
}

#[test]
fn strict_mode_and_allowlist() {
    let body = br#"[{"type":"x","url":"https://www.e.com/","body":{}},{"type":"x","url":"https://evil.test/","body":{}}]"#;
    let strict = Options {
        strict_site: true,
        ..Options::default()
    };
    let batch = report::decode(body, &meta(Some("e.com")), &strict).unwrap();
    assert_eq!(batch.reports.len(), 1);
    assert_eq!(batch.filtered[0].reason, FilterReason::ForeignSite);
    // Without a site in the path, the allowlist applies to each report's own host.
    let allow = Options {
        allowed_sites: SiteList::new(["e.com"]).unwrap(),
        ..Options::default()
    };
    let batch = report::decode(body, &meta(None), &allow).unwrap();
    assert_eq!(batch.reports.len(), 1);
    assert_eq!(batch.reports[0].site, "www.e.com");
    assert_eq!(batch.filtered[0].reason, FilterReason::SiteNotAllowed);
}

#[test]
fn a_report_without_a_host_needs_a_site_in_the_path() {
    let body =
        br#"[{"type":"x","url":"","body":{}},{"type":"x","url":"https://e.com/","body":{}}]"#;
    let batch = report::decode(body, &meta(None), &Options::default()).unwrap();
    assert_eq!(batch.reports.len(), 1);
    assert_eq!(batch.rejected[0].reason, RejectReason::NoSite);
    let batch = report::decode(body, &meta(Some("e.com")), &Options::default()).unwrap();
    assert_eq!(batch.reports.len(), 2);
}

#[test]
fn long_fields_are_cut_with_a_marker() {
    let policy = "x".repeat(20_000);
    let body = format!(
        r#"{{"csp-report":{{"document-uri":"https://e.com/","effective-directive":"img-src","original-policy":"{policy}"}}}}"#
    );
    let opts = Options {
        size: SizeLimits {
            max_string_bytes: 1000,
            ..SizeLimits::default()
        },
        ..Options::default()
    };
    let r = report::decode(body.as_bytes(), &meta(None), &opts)
        .unwrap()
        .reports
        .remove(0);
    assert_eq!(r.truncated, vec!["body.originalPolicy"]);
    let p = r.body["originalPolicy"].as_str().unwrap();
    assert!(p.len() <= 1000 && p.ends_with('…'));
    // Whatever is sent, a stored report stays far below DynamoDB's 400 KB item limit.
    let huge = format!(
        r#"{{"type":"x-new","url":"https://e.com/","body":{{"list":[{}]}}}}"#,
        vec![format!("\"{}\"", "y".repeat(5000)); 150].join(",")
    );
    let r = one(&huge);
    assert!(serde_json::to_vec(&r).unwrap().len() < 100 * 1024);
    assert_eq!(r.truncated, vec!["body"]);
}

#[test]
fn one_bad_element_does_not_reject_its_neighbours() {
    let batch = decode(r#"[1, "x", null, {"type": 5}, {"type":"a b"}, {"type":"x","body":[]}, {"type":"deprecation","url":"https://e.com/","body":{"id":"a"}}]"#).unwrap();
    assert_eq!(batch.reports.len(), 1);
    let reasons: Vec<_> = batch
        .rejected
        .iter()
        .map(|r| (r.index, r.reason.clone()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (0, RejectReason::NotAnObject),
            (1, RejectReason::NotAnObject),
            (2, RejectReason::NotAnObject),
            (3, RejectReason::MissingType),
            (4, RejectReason::InvalidType),
            (5, RejectReason::BodyNotObject),
        ]
    );
}

#[test]
fn bodies_without_reports_are_errors() {
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"".to_vec(), "empty_body"),
        (b" \n\t ".to_vec(), "empty_body"),
        (b"not json".to_vec(), "not_json"),
        (b"{\"csp-report\": {".to_vec(), "not_json"),
        (vec![b'"', 0xff, 0xfe, b'"'], "not_json"),
        (deep.into_bytes(), "not_json"),
        (b"null".to_vec(), "no_report"),
        (b"42".to_vec(), "no_report"),
        (b"\"a string\"".to_vec(), "no_report"),
        (b"[]".to_vec(), "no_report"),
        (b"[1,2,3]".to_vec(), "no_report"),
        (b"{}".to_vec(), "no_report"),
        (b"{\"csp-report\": 5}".to_vec(), "no_report"),
    ];
    for (body, code) in cases {
        let err = report::decode(&body, &meta(None), &Options::default()).unwrap_err();
        assert_eq!(err.code(), code, "{:?}", String::from_utf8_lossy(&body));
    }
}

#[test]
fn limits_on_size_and_count() {
    let opts = Options {
        max_body_bytes: 100,
        max_reports: 3,
        ..Options::default()
    };
    let big = vec![b' '; 101];
    assert!(matches!(
        report::decode(&big, &meta(None), &opts),
        Err(DecodeError::TooLarge { limit: 100 })
    ));
    let many = json!([{"type":"x"},{"type":"x"},{"type":"x"},{"type":"x"}]).to_string();
    assert!(matches!(
        report::decode(many.as_bytes(), &meta(None), &opts),
        Err(DecodeError::TooManyReports { count: 4, limit: 3 })
    ));
}

/// A Reporting API report received at `received` with `age`.
fn received(at: i64, age: i64, body: serde_json::Value) -> report::Report {
    let meta = RequestMeta {
        received_at: Timestamp(at),
        ..meta(Some("example.com"))
    };
    let text =
        json!([{"type": "csp-violation", "age": age, "url": "https://example.com/", "body": body}])
            .to_string();
    report::decode(text.as_bytes(), &meta, &Options::default())
        .unwrap()
        .reports
        .remove(0)
}

#[test]
fn a_redelivery_keeps_its_identity_across_second_and_window_edges() {
    let body = json!({"effectiveDirective": "img-src", "blockedURL": "https://t.example/x.gif"});
    let edge = T0 + 7 * report::WINDOW_MS;
    // Inside one window, across a second boundary: the same id.
    let a = received(edge + 3_990 + 1_000, 1_000, body.clone());
    let b = received(edge + 4_010 + 31_000, 31_000, body.clone());
    assert_eq!(a.id, b.id);
    assert_eq!(a.neighbour(), None, "far from the window's edges");
    // Across the window's edge: another id, but each names the other as its neighbour.
    let before = received(edge - 150 + 2_000, 2_000, body.clone());
    let after = received(edge + 250 + 62_000, 62_000, body.clone());
    assert_ne!(before.id, after.id);
    assert_eq!(before.neighbour().unwrap().id, after.id);
    assert_eq!(after.neighbour().unwrap().id, before.id);
    assert_eq!(after.neighbour().unwrap().window, before.window());
    // A minute apart: two reports, neither the other's neighbour.
    let later = received(edge - 150 + 60_000 + 2_000, 2_000, body);
    assert_ne!(later.id, before.id);
    assert_ne!(later.neighbour().map(|n| n.id), Some(before.id));
}

#[test]
fn an_age_beyond_chromiums_bound_is_not_trusted() {
    let bound = report::MAX_AGE_MS as i64;
    assert_eq!(bound, 30 * 60_000, "15 minutes, a sweep, a retry and slack");
    let body = json!({"effectiveDirective": "img-src"});
    // Chromium's oldest: queued 15 minutes, swept 5 minutes later, sent in the next minute.
    for age in [0, 21 * 60_000, bound] {
        let r = received(T0, age, body.clone());
        assert!(!r.time_untrusted, "{age}");
        assert_eq!(r.occurred_at, Timestamp(T0 - age), "{age}");
    }
    // An hour, a day and a week were trusted before; no browser keeps a report that long.
    for age in [
        bound + 1,
        3_600_000,
        86_400_000,
        7 * 86_400_000,
        1_000_000_000_000_000,
        i64::MAX,
    ] {
        let r = received(T0, age, body.clone());
        assert!(r.time_untrusted, "{age}");
        assert_eq!(r.occurred_at, r.received_at, "{age}");
        assert_eq!(r.age_ms, age as u64, "the age sent is kept");
    }
}

#[test]
fn a_stated_time_beyond_seven_days_is_not_trusted() {
    // Certificate reports state a time from the sender's clock: 7 days back at most.
    let stated = |date_time: &str| {
        one(&format!(
            r#"{{"date-time":"{date_time}","hostname":"example.com","port":443,"known-pins":[]}}"#
        ))
    };
    let yesterday = stated("2026-11-21T00:00:00Z");
    assert!(!yesterday.time_untrusted);
    assert_eq!(yesterday.occurred_at, Timestamp(T0 - 86_400_000));
    assert_eq!(report::MAX_STATED_AGE_MS, 7 * 86_400_000);
    let hpkp = stated("2014-04-06T13:00:50Z");
    assert!(hpkp.time_untrusted);
    assert_eq!(hpkp.occurred_at, Timestamp(T0));
    let future = stated("2099-01-01T00:00:00Z");
    assert!(future.time_untrusted);
    assert_eq!(future.occurred_at, Timestamp(T0));
}

#[test]
fn every_date_field_takes_any_number() {
    for n in [
        json!(253_402_300_800_000_i64),
        json!(i64::MAX),
        json!(u64::MAX),
        json!(-1),
        json!(1e300),
    ] {
        let body = json!([{"type": "deprecation", "url": "https://e.com/", "body": {"id": "x", "anticipatedRemoval": n}}]).to_string();
        let r = one(&body);
        // Kept aside as sent; a number no store can hold, as its text.
        let want = if n == json!(1e300) {
            json!("1e+300")
        } else {
            n.clone()
        };
        assert_eq!(r.body["_invalid"]["anticipatedRemoval"], want, "{n}");
        assert!(serde_json::to_string(&r).is_ok());
    }
    let last = one(
        r#"[{"type":"deprecation","url":"https://e.com/","body":{"id":"x","anticipatedRemoval":253402300799999}}]"#,
    );
    assert_eq!(last.body["anticipatedRemoval"], "9999-12-31T23:59:59.999Z");
    assert_eq!(Timestamp(i64::MAX).to_string(), "9999-12-31T23:59:59.999Z");
}

#[test]
fn group_parts_are_cut_so_a_group_stays_small() {
    let id = "d".repeat(500_000);
    let r = one(
        &json!([{"type": "deprecation", "url": "https://e.com/", "body": {"id": id}}]).to_string(),
    );
    assert!(r.group.len() <= 300, "{}", r.group.len());
    assert!(r.group.starts_with("deprecation ddd"));
    assert!(r.group.ends_with('…'));
    let other = one(&json!([{"type": "deprecation", "url": "https://e.com/", "body": {"id": "e".repeat(500_000)}}]).to_string());
    assert_ne!(r.fingerprint, other.fingerprint);
}

#[test]
fn the_fuzzers_dictionary_holds_every_schema_name() {
    let dict = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/decode.dict"),
    )
    .unwrap();
    let entries: std::collections::HashSet<&str> = dict
        .lines()
        .filter_map(|l| l.strip_prefix('"')?.strip_suffix('"'))
        .collect();
    for t in ReportType::KNOWN {
        assert!(entries.contains(t.as_str()), "{t}");
        for name in report::schema::known_field_names(&t) {
            assert!(entries.contains(name), "{name} of {t}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Reports of every known type with keys from its own table (aliases included) and values
    /// of every kind, dates and out-of-range numbers among them.
    #[test]
    fn schema_driven_reports_decode_whole(
        reports in proptest::collection::vec(schema_report(), 1..12),
        age in prop_oneof![Just(0i64), 0..100_000i64, Just(1_000_000_000_000_000i64)],
    ) {
        let items: Vec<serde_json::Value> = reports
            .into_iter()
            .map(|(t, body)| json!({"type": t, "age": age, "url": "https://example.com/p?q=1", "body": body}))
            .collect();
        let n = items.len();
        let text = serde_json::Value::Array(items).to_string();
        let batch = report::decode(text.as_bytes(), &meta(Some("example.com")), &Options::default()).unwrap();
        prop_assert_eq!(batch.reports.len() + batch.filtered.len() + batch.rejected.len(), n);
        for r in &batch.reports {
            prop_assert_eq!(r.id.len(), 32);
            prop_assert!(r.id.bytes().all(|b| b.is_ascii_hexdigit()));
            prop_assert!(!r.url.contains('?'));
            prop_assert!(r.group.len() < 2048);
            prop_assert!(r.occurred_at.millis() >= T0 - report::MAX_AGE_MS as i64);
            let json = serde_json::to_string(r).unwrap();
            prop_assert!(json.len() < 200 * 1024);
            let back: report::Report = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&back, r);
        }
    }
}

/// A known type and a body drawn from its table's field names.
fn schema_report() -> impl Strategy<Value = (String, serde_json::Value)> {
    let types: Vec<ReportType> = ReportType::KNOWN.to_vec();
    proptest::sample::select(types).prop_flat_map(|t| {
        let mut names: Vec<String> = report::schema::known_field_names(&t)
            .map(str::to_owned)
            .collect();
        names.push("x-unknown".to_owned());
        let value = prop_oneof![
            Just(json!(253_402_300_800_000_i64)),
            Just(json!(i64::MAX)),
            Just(json!(1e300)),
            Just(json!(-1e-200)),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            any::<bool>().prop_map(serde_json::Value::from),
            Just(json!("https://x.example/a?b=c#d")),
            Just(json!("inline")),
            Just(json!("report")),
            ".{0,16}".prop_map(serde_json::Value::from),
            Just(json!({"nested": [1, "a", null]})),
        ];
        let body = proptest::collection::btree_map(proptest::sample::select(names), value, 0..8)
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect()));
        (Just(t.as_str().to_owned()), body)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = report::decode(&bytes, &meta(None), &Options::default());
        let _ = report::decode(&bytes, &meta(Some("e.com")), &Options::default());
    }

    #[test]
    fn arbitrary_json_never_panics(v in json_value()) {
        let text = v.to_string();
        let _ = report::decode(text.as_bytes(), &meta(None), &Options::default());
        // The same value as a report body and as a legacy CSP report.
        let as_report = json!([{"type": "csp-violation", "url": "https://e.com/", "age": v.clone(), "body": v.clone()}]).to_string();
        let _ = report::decode(as_report.as_bytes(), &meta(Some("e.com")), &Options::default());
        let as_legacy = json!({"csp-report": v}).to_string();
        let _ = report::decode(as_legacy.as_bytes(), &meta(None), &Options::default());
    }
}

/// Arbitrary JSON, biased towards the keys and values reports use.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let key = prop_oneof![
        Just("type".to_owned()),
        Just("body".to_owned()),
        Just("url".to_owned()),
        Just("age".to_owned()),
        Just("blockedURL".to_owned()),
        Just("documentURL".to_owned()),
        Just("blocked-uri".to_owned()),
        Just("effective-directive".to_owned()),
        Just("lineNumber".to_owned()),
        Just("disposition".to_owned()),
        Just("hostname".to_owned()),
        Just("known-pins".to_owned()),
        ".{0,12}",
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        prop_oneof![
            Just("csp-violation".to_owned()),
            Just("https://e.com/p?q#f".to_owned()),
            Just("inline".to_owned()),
            Just("report".to_owned()),
            ".{0,20}",
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn inline_reports_with_an_injected_sample_are_noise() {
    let body = br#"[{"type":"csp-violation","age":0,"url":"https://e.com/","body":{"blockedURL":"inline","effectiveDirective":"script-src-elem","originalPolicy":"script-src 'self' 'report-sample'","disposition":"enforce","sample":"window.klTabId_kis = 'e3b0c442'; (functi"}},
                    {"type":"csp-violation","age":0,"url":"https://e.com/","body":{"blockedURL":"inline","effectiveDirective":"script-src-elem","originalPolicy":"script-src 'self' 'report-sample'","disposition":"enforce","sample":"window.appConfig = {\"api\": \"/v1\"}"}}]"#;
    let batch = report::decode(body, &meta(Some("e.com")), &Options::default()).unwrap();
    assert_eq!(batch.filtered.len(), 1);
    assert!(matches!(
        batch.filtered[0].reason,
        FilterReason::InjectedSample(who) if who.contains("Kaspersky")
    ));
    assert_eq!(
        batch.reports.len(),
        1,
        "the site's own inline script is kept"
    );
    assert!(batch.reports[0].group.contains("sample:window.appConfig"));
}

#[test]
fn dip_and_connection_allowlist_reports_are_typed_and_grouped() {
    let batch = decode(
        r#"[{"type":"dip","age":10,"url":"https://e.com/app?s=1","body":{"type":"corp","blockedURL":"https://cdn.example/lib.js?v=2","destination":"script","disposition":"reporting"}},
            {"type":"dip","age":10,"url":"https://e.com/app","body":{"type":"corp","blockedURL":"https://cdn.example/lib.js","destination":"script","disposition":"enforce"}},
            {"type":"connection-allowlist","age":10,"url":"https://e.com/","body":{"url":"https://e.com/?q=1","connection":"https://exfil.example/c?id=7","allowlist":["https://e.com","https://api.e.com:*"],"disposition":"report"}},
            {"type":"connection-allowlist","age":10,"url":"https://e.com/","body":{"url":"https://e.com/","connection":"webrtc","allowlist":[],"disposition":"enforce"}}]"#,
    )
    .unwrap();
    assert_eq!(batch.reports.len(), 4, "{batch:?}");
    let [dip_report, dip_enforce, allowlist, webrtc] = &batch.reports[..] else {
        unreachable!()
    };
    assert_eq!(dip_report.report_type, ReportType::Dip);
    assert_eq!(dip_report.disposition, Some(Disposition::Report));
    assert_eq!(dip_report.body["blockedURL"], "https://cdn.example/lib.js");
    assert!(!dip_report.body.contains_key("disposition"));
    assert_eq!(
        dip_report.group,
        "dip corp script https://cdn.example report"
    );
    assert_eq!(
        dip_enforce.group,
        "dip corp script https://cdn.example enforce"
    );
    assert_ne!(dip_report.fingerprint, dip_enforce.fingerprint);
    assert_eq!(allowlist.report_type, ReportType::ConnectionAllowlist);
    assert_eq!(allowlist.disposition, Some(Disposition::Report));
    assert_eq!(allowlist.body["url"], "https://e.com/", "a URL: stripped");
    assert_eq!(allowlist.body["connection"], "https://exfil.example/c");
    assert_eq!(allowlist.body["allowlist"][1], "https://api.e.com:*");
    assert_eq!(
        allowlist.group,
        "connection-allowlist https://exfil.example report"
    );
    assert_eq!(webrtc.group, "connection-allowlist webrtc enforce");
}

#[test]
fn integrity_reports_keep_their_reason_and_their_older_name() {
    let batch = decode(
        r#"[{"type":"integrity-violation","url":"https://shop.example/","body":{"documentURL":"https://shop.example/","blockedURL":"https://cdn.example/w.js","destination":"script","reportOnly":true}},
            {"type":"integrity-violation","url":"https://shop.example/","body":{"documentURL":"https://shop.example/","blockedURL":"https://cdn.example/w.js","destination":"script","reportOnly":true,"reason":"missing_from_manifest"}},
            {"type":"integrity-policy-violation","url":"https://shop.example/","body":{"documentURL":"https://shop.example/","blockedURL":"https://cdn.example/w.js","destination":"script","reportOnly":true}}]"#,
    )
    .unwrap();
    assert_eq!(batch.reports.len(), 3, "{batch:?}");
    let [plain, reason, alias] = &batch.reports[..] else {
        unreachable!()
    };
    assert_eq!(
        plain.group,
        "integrity-violation script https://cdn.example/w.js"
    );
    assert_eq!(reason.body["reason"], "missing_from_manifest");
    assert_eq!(
        reason.group,
        "integrity-violation script https://cdn.example/w.js missing_from_manifest"
    );
    assert_eq!(alias.report_type, ReportType::IntegrityViolation);
    assert_eq!(alias.fingerprint, plain.fingerprint, "one problem");
    let typed = one(
        r#"[{"type":"integrity-violation","url":"https://shop.example/","body":{"blockedURL":"https://cdn.example/w.js","reason":7}}]"#,
    );
    assert_eq!(typed.body["reason"], "7", "a string, as every Str field");
}

#[test]
fn webkits_destination_is_the_endpoint_name_and_attempts_are_dropped() {
    let r = one(
        r#"[{"body":{"documentURL":"https://shop.example/","blockedURL":"https://cdn.example/w.js","destination":"script","reportOnly":false},"user_agent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.0 Safari/605.1.15","destination":"integrity-endpoint","type":"integrity-violation","age":0,"attempts":0,"url":"https://shop.example/"}]"#,
    );
    assert_eq!(r.endpoint.as_deref(), Some("integrity-endpoint"));
    assert_eq!(
        r.body["destination"], "script",
        "the body's own destination"
    );
    assert_eq!(r.browser.as_deref(), Some("Safari 26"));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["endpoint"], "integrity-endpoint");
    assert!(!json.to_string().contains("attempts"), "{json}");
    // Not a name: not kept. Other senders: no endpoint.
    let odd = one(
        r#"[{"type":"deprecation","url":"https://e.com/","destination":"<b>x</b>","body":{"id":"x"}}]"#,
    );
    assert_eq!(odd.endpoint, None);
    let plain = one(r#"[{"type":"deprecation","url":"https://e.com/","body":{"id":"x"}}]"#);
    assert_eq!(plain.endpoint, None);
    assert!(!serde_json::to_string(&plain).unwrap().contains("endpoint"));
    // The endpoint is not part of the report's identity.
    let named = one(
        r#"[{"type":"deprecation","url":"https://e.com/","destination":"default","body":{"id":"x"}}]"#,
    );
    assert_eq!(named.id, plain.id);
}

#[test]
fn in_app_browsers_and_translate_proxies_are_noise_only_when_asked() {
    let body = br#"[{"type":"csp-violation","url":"https://e.com/","user_agent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 334.0.4.32.98 (iPhone15,3; iOS 17_5; en_US)","body":{"blockedURL":"https://ads.example/x.js","effectiveDirective":"script-src-elem"}},
                    {"type":"csp-violation","url":"https://e-com.translate.goog/page?_x_tr_sl=auto","body":{"documentURL":"https://e-com.translate.goog/page?_x_tr_sl=auto","blockedURL":"https://translate.googleapis.com/x.js","effectiveDirective":"script-src-elem"}},
                    {"type":"csp-violation","url":"https://e.com/","body":{"blockedURL":"https://ads.example/x.js","effectiveDirective":"script-src-elem"}}]"#;
    let kept = report::decode(body, &meta(Some("e.com")), &Options::default()).unwrap();
    assert_eq!(kept.reports.len(), 3, "off by default");
    let opts = Options {
        ignore_in_app_browsers: true,
        ignore_translate_proxies: true,
        ..Options::default()
    };
    let batch = report::decode(body, &meta(Some("e.com")), &opts).unwrap();
    assert_eq!(batch.reports.len(), 1);
    let reasons: Vec<_> = batch.filtered.iter().map(|f| f.reason.clone()).collect();
    assert_eq!(
        reasons,
        [
            FilterReason::InAppBrowser("Instagram"),
            FilterReason::TranslateProxy
        ]
    );
    assert_eq!(batch.filtered[0].reason.code(), "in_app_browser");
    assert_eq!(batch.filtered[1].reason.code(), "translate_proxy");
    // The request's User-Agent counts when the report carries none.
    let request_ua = RequestMeta {
        user_agent: Some(
            "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/468.1.0.56.78;]",
        ),
        ..meta(Some("e.com"))
    };
    let legacy = br#"{"csp-report":{"document-uri":"https://e.com/","blocked-uri":"https://ads.example/x.js","effective-directive":"script-src-elem"}}"#;
    let batch = report::decode(legacy, &request_ua, &opts).unwrap();
    assert_eq!(
        batch.filtered[0].reason,
        FilterReason::InAppBrowser("Facebook")
    );
}

#[test]
fn crash_reports_group_hangs_by_stack_and_keep_their_key_values_bounded() {
    let stack =
        "\n    at spin (https://app.example/main.js:2:3)\n    at https://app.example/main.js:9:1";
    let crash = |url: &str, api: serde_json::Value| {
        json!([{"type": "crash", "age": 0, "url": url,
                "body": {"reason": "unresponsive", "is_top_level": true,
                         "visibility_state": "visible", "stack": stack,
                         "crash_report_api": api}}])
        .to_string()
    };
    let r = one(&crash(
        "https://app.example/cart?s=1",
        json!({"cart": "3", "route": "/checkout"}),
    ));
    assert_eq!(
        r.group,
        "crash unresponsive spin@https://app.example/main.js @https://app.example/main.js"
    );
    assert_eq!(r.url, "https://app.example/cart");
    assert_eq!(r.body["stack"], stack);
    assert_eq!(
        r.body["crash_report_api"],
        json!({"cart": "3", "route": "/checkout"})
    );
    let elsewhere = one(&crash("https://app.example/home", json!({})));
    assert_eq!(elsewhere.fingerprint, r.fingerprint, "one hang, every page");
    // A sender's oversized key-values are cut as every other body value is.
    let long = one(&crash(
        "https://app.example/",
        json!({"k": "v".repeat(100_000)}),
    ));
    assert_eq!(long.truncated, ["body.crash_report_api.k"]);
    let many: serde_json::Map<String, serde_json::Value> = (0..5_000)
        .map(|i| (format!("key-{i}"), json!("value")))
        .collect();
    let flooded = one(&crash(
        "https://app.example/",
        serde_json::Value::Object(many),
    ));
    assert_eq!(flooded.truncated, ["body"]);
    let kept = flooded.body.str_of("_truncated_json").unwrap();
    assert!(kept.len() <= SizeLimits::default().max_body_bytes);
    assert_eq!(flooded.group, r.group, "grouped before the body was cut");
}
