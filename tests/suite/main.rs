//! Lookout's integration tests, in one binary (one link step).

mod alerts;
mod archive;
mod browser;
mod classify;
mod cli;
mod dashboard;
mod decode;
mod dynamo;
mod dynamo_exact;
mod emulator;
mod forged;
mod golden;
mod hostile;
mod http;
mod lambda_runtime;
mod policy_browser;
mod policy_cli;
mod replay;
mod serve_limits;
mod snippets;
mod store;
mod support;
mod template;
mod visitors;
mod work_cap;
mod write_units;
