//! From reports to a policy: the headers that make browsers report (written for each server),
//! a policy as directives, and the policy the reports ask for.

pub mod builder;
pub mod directives;
pub mod snippet;
pub mod source;
