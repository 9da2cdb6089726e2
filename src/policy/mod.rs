//! From reports to a policy: the headers that make browsers report, written for each server.

pub mod snippet;
