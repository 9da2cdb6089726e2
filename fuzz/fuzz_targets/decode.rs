//! Fuzzes the whole decode path: any bytes, with and without a site, with every option that
//! changes the path (query stripping off, strict mode, sampling, the optional noise lists).

#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout::report::{self, Endpoint, Options, RequestMeta, Timestamp};

fuzz_target!(|data: &[u8]| {
    let mut strict = Options {
        strict_site: true,
        strip_query: false,
        ignore_in_app_browsers: true,
        ignore_translate_proxies: true,
        ..Options::default()
    };
    strict.sample_rates.insert("csp-violation".into(), 0.5);
    for (site, opts) in [(None, Options::default()), (Some("example.com"), strict)] {
        let meta = RequestMeta {
            site,
            user_agent: Some("Mozilla/5.0 Chrome/120.0 Safari/537.36"),
            received_at: Timestamp(1_795_305_600_000),
            endpoint: Some(Endpoint {
                host: "collector.example",
                path: "/r/example.com",
            }),
            policy_version: Some("3"),
        };
        if let Ok(batch) = report::decode(data, &meta, &opts) {
            for r in &batch.reports {
                // Every stored report serializes, and stays bounded.
                let json = serde_json::to_vec(r).unwrap();
                assert!(json.len() < 400 * 1024);
            }
        }
    }
});
