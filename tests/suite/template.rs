//! The SAM template: it passes cfn-lint, and its policy stays least privilege.

use std::path::Path;
use std::process::Command;

use crate::support::{application_log_level, lambda_keeps, template};

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
fn the_function_may_only_write_to_its_table_and_log_to_its_own_group() {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&template()).unwrap();
    let resources = &doc["Resources"];
    let function = &resources["CollectorFunction"]["Properties"];
    assert_eq!(function["Runtime"], "provided.al2023");
    assert_eq!(function["Architectures"][0], "arm64");
    assert!(
        function.get("Policies").is_none(),
        "no SAM policies: they would add managed ones (logs and streams on *)"
    );
    assert_eq!(
        serde_yaml_ng::to_string(&function["Role"]).unwrap().trim(),
        "!GetAtt CollectorRole.Arn"
    );
    let role = &resources["CollectorRole"]["Properties"];
    assert!(role.get("ManagedPolicyArns").is_none(), "no managed policy");
    let policies = role["Policies"].as_sequence().unwrap();
    assert_eq!(policies.len(), 1, "one inline policy");
    let statements = policies[0]["PolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap();
    let mut table_actions = Vec::new();
    let mut log_actions = Vec::new();
    let mut topic_actions = Vec::new();
    for s in statements {
        // A statement kept only when alerts are e-mailed or sent to a webhook:
        // `!If [HasAlertEmail, statement, none]`, `!If [HasAlertWebhook, ...]`.
        let s = match s {
            serde_yaml_ng::Value::Tagged(t) if t.tag == "If" => {
                let branches = t.value.as_sequence().unwrap();
                assert!(
                    branches[0] == "HasAlertEmail" || branches[0] == "HasAlertWebhook",
                    "{:?}",
                    branches[0]
                );
                &branches[1]
            }
            s => s,
        };
        let actions: Vec<String> = s["Action"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect();
        let resource = serde_yaml_ng::to_string(&s["Resource"]).unwrap();
        let condition = serde_yaml_ng::to_string(&s["Condition"]).unwrap();
        if s["Effect"] == "Deny" {
            // The one denial: operators' decisions are never the function's to write.
            assert_eq!(
                actions,
                [
                    "dynamodb:BatchWriteItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem"
                ]
            );
            assert!(
                condition.contains("ForAnyValue:StringLike")
                    && condition.contains("AUTH#*")
                    && condition.contains("MUTE#*"),
                "{condition}"
            );
            continue;
        }
        assert_eq!(s["Effect"], "Allow");
        if resource.contains("CollectorLogGroup.Arn") {
            log_actions.extend(actions);
            continue;
        }
        if resource.contains("AlertTopic") {
            topic_actions.extend(actions);
            continue;
        }
        if resource.contains(":parameter${AlertWebhookParameter}") {
            assert_eq!(
                actions,
                ["ssm:GetParameter"],
                "the one parameter, read only"
            );
            continue;
        }
        if resource.contains("FailedBatches.Arn") {
            assert_eq!(actions, ["sqs:SendMessage"], "failed batches' records only");
            continue;
        }
        assert!(
            resource.contains("ReportsTable.Arn") || resource.contains("ReportsTable.StreamArn"),
            "{resource}"
        );
        let reads_items = actions
            .iter()
            .any(|a| a.contains("Get") || a.ends_with("Query"));
        if reads_items && resource.contains("ReportsTable.Arn") {
            assert!(
                condition.contains("dynamodb:Attributes") && !condition.contains("body"),
                "reads are limited to keys, marks and counts: {condition}"
            );
        }
        if actions.iter().any(|a| a.ends_with("Query")) {
            assert!(
                ((condition.contains("HOUR#*") && condition.contains("MUTE#*"))
                    || (condition.contains("SCRIPT#*") && condition.contains("AUTH#*")))
                    && !condition.contains("AGG#"),
                "queries only reach hourly counts, mutes, script contents and authorizations: {condition}"
            );
        }
        if actions.iter().any(|a| a.ends_with("UpdateItem")) {
            assert!(
                condition.contains("dynamodb:ReturnValues: NONE")
                    || (condition.contains("dynamodb:ReturnValues: UPDATED_NEW")
                        && condition.contains("dynamodb:LeadingKeys")
                        && condition.contains("HOUR#*"))
                    || (condition.contains("UPDATED_NEW")
                        && condition.contains("ALL_NEW")
                        && condition.contains("dynamodb:LeadingKeys")
                        && condition.contains("SCRIPT#*")
                        && !condition.contains("HOUR#*")),
                "writes return nothing, except an hourly count's new value and a script content's: {condition}"
            );
        }
        table_actions.extend(actions);
    }
    table_actions.sort();
    table_actions.dedup();
    assert_eq!(
        table_actions,
        table_calls_of_the_function(),
        "the policy is the code's calls"
    );
    log_actions.sort();
    assert_eq!(log_actions, ["logs:CreateLogStream", "logs:PutLogEvents"]);
    assert_eq!(
        topic_actions,
        ["sns:Publish"],
        "alerts published to its own topic only"
    );
    assert_eq!(
        serde_yaml_ng::to_string(&function["LoggingConfig"]["LogGroup"])
            .unwrap()
            .trim(),
        "!Ref CollectorLogGroup",
        "the function logs to the group its role may write"
    );
}

#[test]
fn the_defaults_bound_what_a_stranger_can_spend() {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&template()).unwrap();
    let params = &doc["Parameters"];
    assert!(
        params["AllowedSites"].get("Default").is_none(),
        "the sites are chosen at deploy time (`*` for any), never any site by default"
    );
    assert!(
        params["AllowedSites"]["AllowedPattern"].is_string(),
        "an empty value is refused at deploy time"
    );
    let number = |name: &str| params[name]["Default"].as_u64().unwrap();
    assert_eq!(number("ThrottleRate"), 50);
    assert_eq!(number("ThrottleBurst"), 100);
    assert_eq!(
        number("MaxReports"),
        lookout::report::DEFAULT_MAX_REPORTS as u64
    );
    assert_eq!(
        number("MaxBodyBytes"),
        lookout::report::DEFAULT_MAX_BODY_BYTES as u64
    );
    assert_eq!(
        number("RetentionDays"),
        u64::from(lookout::store::dynamodb::DEFAULT_RETENTION_DAYS)
    );
    assert_eq!(
        number("WriteShards"),
        u64::from(lookout::store::dynamodb::DEFAULT_WRITE_SHARDS)
    );
    assert_eq!(number("MaxWriteUnitsPerSecond"), 1000);
    assert_eq!(
        number("RecoveryLogBytesPerMinute"),
        lookout::limits::DEFAULT_RECOVERY_BYTES_PER_MINUTE
    );
    let resources = &doc["Resources"];
    let ceiling = &resources["ReportsTable"]["Properties"]["OnDemandThroughput"];
    assert!(
        ceiling.get("MaxWriteRequestUnits").is_some()
            && ceiling.get("MaxReadRequestUnits").is_some()
    );
    // One route: HTTP API throttling is per route, so one route makes it the whole API's.
    assert_eq!(
        params["FrontDoor"]["Default"], "http-api",
        "the throttled door"
    );
    let routes: Vec<&serde_yaml_ng::Value> = resources
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::ApiGatewayV2::Route")
        .collect();
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0]["Properties"]["RouteKey"], "$default");
    let stage = &resources["ReportsApiStage"]["Properties"];
    assert_eq!(stage["StageName"], "$default", "no stage prefix in paths");
    let throttle = serde_yaml_ng::to_string(&stage["DefaultRouteSettings"]).unwrap();
    assert!(
        throttle.contains("!Ref ThrottleBurst") && throttle.contains("!Ref ThrottleRate"),
        "{throttle}"
    );
    assert_eq!(
        resources["ReportsApiIntegration"]["Properties"]["PayloadFormatVersion"], "2.0",
        "the event shape a function URL sends too"
    );
    // The function URL has no throttle: the template refuses it without a concurrency cap.
    let rule = serde_yaml_ng::to_string(&doc["Rules"]["FunctionUrlNeedsAConcurrencyCap"]).unwrap();
    assert!(
        rule.contains("function-url") && rule.contains("!Ref ReservedConcurrency"),
        "{rule}"
    );
    for (name, door) in [
        ("ReportsApi", "UseHttpApi"),
        ("ReportsApiStage", "UseHttpApi"),
        ("ReportsApiPermission", "UseHttpApi"),
        ("CollectorUrl", "UseFunctionUrl"),
        ("CollectorUrlPermission", "UseFunctionUrl"),
        ("CollectorUrlInvokePermission", "UseFunctionUrl"),
    ] {
        assert_eq!(
            resources[name]["Condition"], door,
            "{name}: one front door at a time"
        );
    }
    assert!(
        resources["CollectorUrl"]["Properties"]
            .get("Cors")
            .is_none(),
        "preflights reach the app, as through the HTTP API"
    );
    let log_group = &resources["CollectorLogGroup"];
    assert_eq!(
        log_group["DeletionPolicy"], "Retain",
        "recovery lines outlive the stack"
    );
    assert!(
        log_group["Properties"].get("LogGroupName").is_none(),
        "a generated name, so a new stack of the same name still deploys"
    );
}

/// The DynamoDB operations the function calls on its table, read from the code it runs:
/// every `.operation()` call on a client in the store's write, aggregate and alert modules, and the
/// stream reads Lambda makes for the function's stream event source.
fn table_calls_of_the_function() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/dynamodb");
    let mut calls = std::collections::BTreeSet::new();
    for file in [
        "write.rs",
        "aggregate.rs",
        "alerts/mod.rs",
        "alerts/claims.rs",
        "alerts/outbox.rs",
        "alerts/hours.rs",
        "alerts/budget.rs",
        "alerts/scripts.rs",
        "day_key.rs",
        "sites.rs",
    ] {
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

#[test]
fn alerts_are_off_until_a_webhook_or_an_address_is_given() {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&template()).unwrap();
    let params = &doc["Parameters"];
    for name in ["AlertWebhookParameter", "AlertEmail"] {
        assert_eq!(params[name]["Default"], "", "{name} is empty by default");
    }
    assert_eq!(params["SilenceHours"]["Default"].as_u64(), Some(0));
    // Counting (and so alerting) waits for the stream's batching window, 5 s by default.
    assert_eq!(params["CountWindowSeconds"]["Default"].as_u64(), Some(5));
    let window = &doc["Resources"]["CollectorFunction"]["Properties"]["Events"]["NewReports"]["Properties"]
        ["MaximumBatchingWindowInSeconds"];
    assert_eq!(
        serde_yaml_ng::to_string(window).unwrap().trim(),
        "!Ref CountWindowSeconds"
    );
    assert_eq!(
        params["SpikeFactor"]["Default"].as_f64(),
        Some(lookout::alert::rules::SpikeRule::default().factor)
    );
    assert_eq!(
        params["SpikeMinReports"]["Default"].as_u64(),
        Some(lookout::alert::rules::SpikeRule::default().min_reports)
    );
    assert_eq!(
        params["ScriptMinVisitors"]["Default"].as_u64(),
        Some(lookout::alert::scripts::SCRIPT_MIN_VISITORS)
    );
    let resources = &doc["Resources"];
    assert_eq!(resources["AlertTopic"]["Condition"], "HasAlertTopic");
    let sub = &resources["AlertEmailSubscription"];
    assert_eq!(sub["Condition"], "HasAlertEmail");
    assert_eq!(sub["Properties"]["Protocol"], "email");
    let alarm = &resources["SilenceAlarm"]["Properties"];
    assert_eq!(resources["SilenceAlarm"]["Condition"], "HasSilenceAlarm");
    assert_eq!(
        alarm["MetricName"], "Accepted",
        "a metric the function emits"
    );
    assert_eq!(
        alarm["TreatMissingData"], "breaching",
        "no request at all is silence"
    );
    let env = &resources["CollectorFunction"]["Properties"]["Environment"]["Variables"];
    assert!(
        env.get("LOOKOUT_ALERT_WEBHOOK").is_none(),
        "a webhook URL is a secret: never in the function's environment"
    );
    for var in [
        "LOOKOUT_ALERT_WEBHOOK_PARAMETER",
        "LOOKOUT_ALERT_TOPIC_ARN",
        "LOOKOUT_SPIKE_FACTOR",
        "LOOKOUT_SPIKE_MIN_REPORTS",
        "LOOKOUT_SCRIPT_MIN_VISITORS",
    ] {
        assert!(env.get(var).is_some(), "{var}");
    }
}

#[test]
fn lambda_drops_its_platform_lines_and_keeps_the_functions() {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&template()).unwrap();
    for function in ["CollectorFunction", "ArchiveFunction"] {
        let logging = &doc["Resources"][function]["Properties"]["LoggingConfig"];
        assert_eq!(logging["LogFormat"], "JSON", "{function}: levels need JSON");
        assert_eq!(
            logging["SystemLogLevel"], "WARN",
            "{function}: platform.start and platform.report are INFO, dropped"
        );
        assert_eq!(application_log_level(function), "INFO", "{function}");
    }
    // The rule itself, on the lines Lookout writes (the bootstrap's own are checked in
    // lambda_runtime.rs): a metric document has no level and is kept at INFO, not at WARN.
    let emf = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[]},"message":"reports","Accepted":1}"#;
    assert!(lambda_keeps(emf, "INFO"));
    assert!(!lambda_keeps(emf, "WARN"));
    assert!(lambda_keeps(r#"{"level":"ERROR","recovery":true}"#, "WARN"));
    assert!(!lambda_keeps(r#"{"level":"DEBUG"}"#, "INFO"));
}

#[test]
fn the_archive_writes_only_its_prefix_and_reads_only_the_stream() {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&template()).unwrap();
    let params = &doc["Parameters"];
    assert_eq!(params["ArchiveBucket"]["Default"], "", "off by default");
    let resources = &doc["Resources"];
    for name in [
        "ArchiveRole",
        "ArchiveFunction",
        "ArchiveDatabase",
        "ArchiveTable",
        "TopProblemsQuery",
        "NewSourcesQuery",
    ] {
        assert_eq!(resources[name]["Condition"], "HasArchive", "{name}");
    }
    assert_eq!(
        resources["ArchiveStore"]["Condition"],
        "CreateArchiveBucket"
    );
    assert_eq!(resources["ArchiveStore"]["DeletionPolicy"], "Retain");
    let statements =
        resources["ArchiveRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            .as_sequence()
            .unwrap();
    let mut actions: Vec<String> = statements
        .iter()
        .flat_map(|s| s["Action"].as_sequence().unwrap().iter())
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        [
            "dynamodb:DescribeStream",
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
            "dynamodb:ListStreams",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "s3:PutObject",
            "sqs:SendMessage",
        ]
    );
    let put = serde_yaml_ng::to_string(&statements[0]["Resource"]).unwrap();
    assert!(put.contains("/reports/*"), "{put}");
    assert_eq!(
        resources["ArchiveFunction"]["Metadata"], resources["CollectorFunction"]["Metadata"],
        "one build definition: sam build builds the binary once for both"
    );
    let function = &resources["ArchiveFunction"]["Properties"];
    let event = &function["Events"]["NewReports"]["Properties"];
    assert_eq!(event["MaximumBatchingWindowInSeconds"].as_u64(), Some(300));
    assert_eq!(
        event["BisectBatchOnFunctionError"], false,
        "a retried batch rewrites the same objects"
    );
    assert!(
        function["Environment"]["Variables"]
            .get("LOOKOUT_ARCHIVE_BUCKET")
            .is_some()
    );
    // The Athena table reads the writer's layout.
    let table = &resources["ArchiveTable"]["Properties"]["TableInput"];
    let template =
        serde_yaml_ng::to_string(&table["Parameters"]["storage.location.template"]).unwrap();
    assert!(
        template.contains(&format!(
            "{}dt=${{!dt}}/site=${{!site}}/",
            lookout::archive::PREFIX
        )),
        "{template}"
    );
    let columns: Vec<&str> = table["StorageDescriptor"]["Columns"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| c["Name"].as_str().unwrap())
        .collect();
    // Every field a report line can hold (optional ones set), except the partition's site.
    let mut report = crate::support::decode_json(
        &serde_json::json!({"csp-report": {"document-uri": "https://example.com/",
            "effective-directive": "img-src", "blocked-uri": "https://x.example/a.png",
            "disposition": "report", "original-policy": "img-src 'self'"}}),
        "example.com",
        lookout::report::Timestamp(1_795_348_800_000),
    )
    .remove(0);
    report.time_untrusted = true;
    report.policy_version = Some("1".into());
    report.endpoint = Some("default".into());
    report.truncated = vec!["body.sample".into()];
    report.user_agent = Some("Mozilla/5.0 Firefox/149.0".into());
    report.browser = Some("Firefox 149".into());
    let report = serde_json::to_value(&report).unwrap();
    let mut keys: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.retain(|k| *k != "site");
    let mut sorted_columns = columns.clone();
    sorted_columns.sort();
    keys.sort();
    assert_eq!(sorted_columns, keys, "a column for each field of a line");
}

#[test]
fn a_stream_batch_that_keeps_failing_is_kept_not_dropped() {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&template()).unwrap();
    let resources = &doc["Resources"];
    for function in ["CollectorFunction", "ArchiveFunction"] {
        let mapping = &resources[function]["Properties"]["Events"]["NewReports"]["Properties"];
        let destination =
            serde_yaml_ng::to_string(&mapping["DestinationConfig"]["OnFailure"]["Destination"])
                .unwrap();
        assert!(
            destination.contains("FailedBatches.Arn"),
            "{function}: {destination}"
        );
    }
    let queue = &resources["FailedBatches"]["Properties"];
    assert_eq!(queue["SqsManagedSseEnabled"], true);
    assert_eq!(queue["MessageRetentionPeriod"], 1_209_600);
}
