//! Lookout: a collector of browser incident reports.
//!
//! - [`report`]: the pure domain (decode, normalize, filter, fingerprint).
//! - [`store`]: where reports go (the `ReportStore` port and its backends).
//! - [`alert`]: alerts on new problems and spikes, and where they go.
//! - [`pipeline`]: the step after storing, once for every caller: new reports counted into the
//!   aggregates, then alerted on.
//! - `failed_batches`: the stream batches Lambda gave up on, counted again (feature `local`).
//! - [`policy`]: from reports to a policy (header snippets for each server).
//! - [`aws`]: the AWS clients (DynamoDB, Streams, SNS, SSM, S3), built in one place.
//! - [`http`]: the one HTTP app that both Lambda and the local server run.
//! - `cli`: the `lookout` command line (feature `local`, on by default; the Lambda bootstrap
//!   calls none of it).

pub mod alert;
pub mod archive;
pub mod aws;
#[cfg(feature = "local")]
pub mod cli;
pub mod config;
#[cfg(feature = "local")]
pub mod failed_batches;
pub mod http;
pub mod lambda;
pub mod limits;
pub mod pipeline;
pub mod policy;
pub mod recovery;
pub mod report;
#[cfg(feature = "local")]
pub mod scripts;
pub mod store;
pub mod telemetry;
#[cfg(feature = "local")]
pub mod ui;
