//! From reports to a policy: the headers that make browsers report (written for each server),
//! a policy as directives, and the policy the reports ask for.
//!
//! - [`builder`]: the suggestion from the owner's policy and the problems seen (pure).
//! - [`suggest`]: the same, read from a store, as `lookout policy` and the dashboard show it.
//! - [`directives`], [`source`]: a policy and the sources the builder writes.
//! - [`snippet`]: the headers for each server.

pub mod builder;
pub mod directives;
pub mod snippet;
pub mod source;
pub mod suggest;
