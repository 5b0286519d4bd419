//! Everything a run writes for people and tools: console tables, CSV files, the HTML report.
//!
//! Report code only formats statistics it is handed; it never touches the network or the engine.

pub mod console;
pub mod csv;
pub mod data;
pub mod flags;
pub mod html;
pub mod json;
pub mod run_sheet;
pub mod scenario;
pub mod svg;
pub mod verdicts;
