//! The SAM template, read as the tests read it.

use std::path::Path;

/// `template.yaml`'s text.
pub fn template() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("template.yaml")).unwrap()
}

/// Lambda's log-level filter as AWS documents it for the JSON log format: a line's level is
/// its `level` field, and a line without one (or not JSON) is INFO; a line is kept when its
/// level is at or above the function's application log level.
pub fn lambda_keeps(line: &str, application_level: &str) -> bool {
    const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    let rank = |l: &str| LEVELS.iter().position(|x| x.eq_ignore_ascii_case(l));
    let level = serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v.get("level").and_then(|l| l.as_str()).and_then(rank))
        .unwrap_or(2);
    level >= rank(application_level).expect("a Lambda log level")
}

/// The application log level the template gives a function.
pub fn application_log_level(function: &str) -> String {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&template()).unwrap();
    doc["Resources"][function]["Properties"]["LoggingConfig"]["ApplicationLogLevel"]
        .as_str()
        .unwrap()
        .to_owned()
}
