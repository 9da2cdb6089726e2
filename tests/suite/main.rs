//! Lookout's integration tests, in one binary (one link step).

mod browser;
mod cli;
mod decode;
mod golden;
mod http;
mod store;
mod support;
