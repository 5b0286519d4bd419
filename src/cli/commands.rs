//! locusta's own subcommands (`demo`, `check`, `schema`, `report`): each has its own arguments,
//! parsed apart from a run's Locust-compatible options.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;
use clap::error::ErrorKind;

use super::{Command, UsageError, usage_error};

/// `locusta demo`: the built-in target server.
#[derive(Parser, Debug, Clone, PartialEq)]
#[command(
    name = "locusta demo",
    about = "Run the built-in demo target: a CisTrade-like web app with seeded data"
)]
pub struct DemoArgs {
    /// Port to listen on
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// Multiply every endpoint's simulated latency (0 turns latency off)
    #[arg(long = "latency-scale", default_value_t = 1.0, value_parser = non_negative)]
    pub latency_scale: f64,
    /// Seed of the generated data (same seed, same portfolios)
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

fn non_negative(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("'{s}' is not a number of 0 or more")),
    }
}

/// `locusta check`: validate scenario files without running them.
#[derive(Parser, Debug, Clone, PartialEq)]
#[command(
    name = "locusta check",
    about = "Check scenario files without running them: every problem, with file, line and column"
)]
pub struct CheckArgs {
    /// The scenario files
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// `locusta report`: the HTML report of a finished run, from its CSV files.
#[derive(Parser, Debug, Clone, PartialEq)]
#[command(
    name = "locusta report",
    about = "Write the HTML report of a finished run from its CSV files (locusta's or Locust's own)"
)]
pub struct ReportArgs {
    /// A folder of results (holding one *_stats.csv), or the --csv PREFIX of a run
    #[arg(value_name = "RESULTS")]
    pub input: PathBuf,
    /// Where to write the report [default: RESULTS/report.html for a folder, PREFIX_report.html for a prefix]
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Parses a subcommand's arguments (after its name) with its own definitions.
pub(super) fn subcommand<T: Parser>(
    name: &str,
    args: Vec<OsString>,
    wrap: impl FnOnce(T) -> Command,
) -> Result<Command, UsageError> {
    let argv =
        std::iter::once(OsString::from(format!("locusta {name}"))).chain(args.into_iter().skip(2));
    match T::try_parse_from(argv) {
        Ok(a) => Ok(wrap(a)),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp) => Ok(Command::Print(e.to_string())),
        Err(e) => Err(usage_error(&e)),
    }
}

/// `locusta schema` takes no arguments.
#[derive(Parser)]
#[command(
    name = "locusta schema",
    about = "Print a format of locusta's as a JSON Schema: the scenario file (default), or the --summary-json output"
)]
pub struct SchemaArgs {
    /// Which format
    #[arg(value_enum, default_value_t = SchemaKind::Scenario)]
    pub kind: SchemaKind,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaKind {
    /// The scenario file (for editors: `# yaml-language-server: $schema=...`)
    Scenario,
    /// The JSON written by --summary-json
    Summary,
}
