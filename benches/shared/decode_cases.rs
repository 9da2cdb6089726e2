//! The decode benchmark's cases: each format's request body, decoded whole (parse, recognise,
//! type, strip, filter, group, fingerprint, id) next to a bare `serde_json::Value` parse of
//! the same bytes (the floor). The `decode` bench declares it beside `request` (the measured
//! request's metadata).

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use lookout::report::{self, Options};

const LEGACY: &str = include_str!("../../tests/fixtures/lookout/chromium-legacy-csp.json");
const CHROME_CSP: &str =
    include_str!("../../tests/fixtures/peers/icco-reportd__reportto__real-life.json");

/// A 20-report Reporting API batch: real Chrome CSP and NEL reports, alternating.
fn batch20() -> String {
    let csp: serde_json::Value = serde_json::from_str(CHROME_CSP).unwrap();
    let nel: serde_json::Value = serde_json::from_str(include_str!(
        "../../tests/fixtures/peers/icco-reportd__reportto__nel.json"
    ))
    .unwrap();
    let items: Vec<serde_json::Value> = (0..20)
        .map(|i| {
            if i % 2 == 0 {
                csp[0].clone()
            } else {
                nel[i % nel.as_array().unwrap().len()].clone()
            }
        })
        .collect();
    serde_json::to_string(&items).unwrap()
}

/// Every case: one criterion group per format, named `{format}{suffix}`.
pub fn bench(c: &mut Criterion, suffix: &str) {
    let opts = Options::default();
    let meta = crate::request::meta();
    let batch = batch20();
    let fixture = |path: &str| {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/{path}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    // One group per format: the whole request body, its report count, next to its floor.
    for (name, body, n) in [
        ("legacy_csp", LEGACY.to_owned(), 1u64),
        ("batch20", batch, 20),
        (
            "reporting_csp",
            fixture("peers/icco-reportd__reportto__real-life.json"),
            1,
        ),
        (
            "reporting_nel",
            fixture("peers/icco-reportd__reportto__nel.json"),
            36,
        ),
        (
            "safari_single",
            fixture("lookout/safari-single-object.json"),
            1,
        ),
        (
            "deprecation",
            fixture("peers/icco-reportd__reporting__deprecation.json"),
            1,
        ),
        ("hpkp", fixture("peers/django-lookout__hpkp_1.json"), 1),
        (
            "expect_ct",
            fixture("peers/django-lookout__expect_ct_1.json"),
            1,
        ),
        (
            "expect_staple",
            fixture("peers/django-lookout__expect_staple_1.json"),
            1,
        ),
    ] {
        let mut g = c.benchmark_group(format!("{name}{suffix}"));
        g.throughput(Throughput::Elements(n));
        g.bench_function("decode", |b| {
            b.iter(|| {
                let batch = report::decode(black_box(body.as_bytes()), &meta, &opts).unwrap();
                assert_eq!(batch.reports.len() as u64, n);
                batch
            })
        });
        g.bench_function("serde_json_value_floor", |b| {
            b.iter(|| {
                serde_json::from_slice::<serde_json::Value>(black_box(body.as_bytes())).unwrap()
            })
        });
        g.finish();
    }
}
