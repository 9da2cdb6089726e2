//! Shared test helpers, one of each. Test files import them from here (and the emulators from
//! `emulator`), never from one another:
//! - `http`: the app through its router, without a socket, and its state;
//! - `store`: a temporary embedded store, and a store that fails on purpose;
//! - `logs`: what the code under test logs, captured;
//! - `processes`: `lookout` and Chromium as processes, and plain HTTP to them;
//! - `reports`: the request reports are decoded as, request bodies, the conformance fixtures;
//! - `dynamodb`: a table's items, read back;
//! - `template`: the SAM template;
//! - `webhook`: a webhook receiver for alerts.

mod dynamodb;
mod http;
mod logs;
mod processes;
mod reports;
mod store;
mod template;
mod webhook;

pub use self::dynamodb::{report_items, scan_all};
pub use self::http::{post, send, state, state_with, unbounded_budget};
pub use self::logs::LogCapture;
pub use self::processes::{
    Process, chromium, free_port, headless_chromium, http_request, raw_exchange, run_lookout,
    run_policy, spawn_lookout, spawn_serve,
};
pub use self::reports::{batch, decode_json, decode_with, fixture_reports, fixtures, meta};
pub use self::store::{Fault, FaultyStore, TempStore};
pub use self::template::{application_log_level, lambda_keeps, template};
pub use self::webhook::{Receiver, receiver, scripted};
