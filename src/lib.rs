//! locusta: a Locust-compatible load-testing tool.
//!
//! Data flows one way: a [`scenario`] is loaded and validated, the [`engine`] runs it and
//! records into [`stats`], and [`report`] turns the statistics into files and tables.

pub mod cli;
pub mod commands;
pub mod demo;
pub mod distributed;
pub mod engine;
pub mod gate;
pub mod limits;
pub mod logging;
pub mod machine;
pub mod pyfmt;
pub mod report;
pub mod run;
pub mod scenario;
pub mod stats;
pub mod web;
