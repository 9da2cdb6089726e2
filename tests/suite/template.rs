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
        assert!(resource.contains("ReportsTable.Arn"), "{resource}");
    }
    actions.sort();
    assert_eq!(
        actions,
        [
            "dynamodb:BatchWriteItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem"
        ]
    );
}
