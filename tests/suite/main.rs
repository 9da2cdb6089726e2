//! Lookout's integration tests, in one binary (one link step).

mod decode;
mod golden;
mod http;
mod support;
