//! The SAM template: it passes cfn-lint, and its policy stays least privilege.

use std::path::Path;
use std::process::Command;

fn template() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("template.yaml")).unwrap()
}

#[test]
fn cfn_lint_passes() {
    let out = Command::new("cfn-lint")
        .arg("template.yaml")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cfn-lint runs (scripts/setup-test-tools installs it)");
    assert!(
        out.status.success(),
        "cfn-lint found problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_function_may_only_write_to_its_table() {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&template()).unwrap();
    let function = &doc["Resources"]["CollectorFunction"]["Properties"];
    assert_eq!(function["Runtime"], "provided.al2023");
    assert_eq!(function["Architectures"][0], "arm64");
    let policies = function["Policies"].as_sequence().unwrap();
    assert_eq!(
        policies.len(),
        1,
        "one inline policy, no managed CRUD policy"
    );
    let statements = policies[0]["Statement"].as_sequence().unwrap();
    let mut actions = Vec::new();
    for s in statements {
        assert_eq!(s["Effect"], "Allow");
        for a in s["Action"].as_sequence().unwrap() {
            actions.push(a.as_str().unwrap().to_owned());
        }
        let resource = serde_yaml_ng::to_string(&s["Resource"]).unwrap();
        assert!(
            resource.contains("ReportsTable.Arn") || resource.contains("ReportsTable.StreamArn"),
            "{resource}"
        );
        let reads = s["Action"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|a| a.as_str().unwrap().contains("Get"));
        if reads && resource.contains("ReportsTable.Arn") {
            let condition = serde_yaml_ng::to_string(&s["Condition"]).unwrap();
            assert!(
                condition.contains("dynamodb:Attributes") && !condition.contains("body"),
                "reads are limited to keys and marks: {condition}"
            );
        }
    }
    actions.sort();
    assert_eq!(
        actions,
        table_calls_of_the_function(),
        "the policy is the code's calls"
    );
}

/// The DynamoDB operations the function calls on its table, read from the code it runs:
/// every `.operation()` call on a client in the store's write and aggregate modules, and the
/// stream reads Lambda makes for the function's stream event source.
fn table_calls_of_the_function() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/dynamodb");
    let mut calls = std::collections::BTreeSet::new();
    for file in ["write.rs", "aggregate.rs"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        for (i, _) in text.match_indices(".client") {
            let rest = text[i + ".client".len()..].trim_start();
            let rest = rest.strip_prefix("()").unwrap_or(rest).trim_start();
            let Some(rest) = rest.strip_prefix('.') else {
                continue;
            };
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            let pascal: String = name
                .split('_')
                .map(|w| w[..1].to_ascii_uppercase() + &w[1..])
                .collect();
            calls.insert(format!("dynamodb:{pascal}"));
        }
    }
    assert!(calls.len() >= 3, "the scan found the calls: {calls:?}");
    for stream_read in [
        "DescribeStream",
        "GetRecords",
        "GetShardIterator",
        "ListStreams",
    ] {
        calls.insert(format!("dynamodb:{stream_read}"));
    }
    calls.into_iter().collect()
}
