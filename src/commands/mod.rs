//! locusta's own subcommands, besides a run: each reads its arguments, does its job, prints,
//! and returns the process exit code.

pub mod check;
pub mod compare;
pub mod report;
