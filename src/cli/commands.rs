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
    /// Add DURATION to every answer whose path starts with PATH, e.g. /reference-data/currency/=100ms (a slowdown to try `locusta compare` on); repeatable
    #[arg(long = "delay", value_name = "PATH=DURATION", value_parser = path_delay)]
    pub delays: Vec<(String, std::time::Duration)>,
}

fn path_delay(s: &str) -> Result<(String, std::time::Duration), String> {
    let (path, duration) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not PATH=DURATION (e.g. /portfolio/=100ms)"))?;
    if !path.starts_with('/') {
        return Err(format!("'{path}' is not a path (it starts with /)"));
    }
    let duration = humantime::parse_duration(duration)
        .map_err(|e| format!("'{duration}' is not a duration ({e}); e.g. 100ms, 2s"))
        .and_then(|d| crate::limits::span(d).map_err(|e| format!("'{duration}' {e}")))?;
    Ok((path.to_string(), duration))
}

/// The demo's slowest endpoint takes ~300 ms at scale 1; a scale of a million makes it take
/// days, far past any test, and keeps every latency a valid duration.
const MAX_LATENCY_SCALE: f64 = 1_000_000.0;

fn non_negative(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && (0.0..=MAX_LATENCY_SCALE).contains(&x) => Ok(x),
        _ => Err(format!(
            "'{s}' is not a number from 0 to {MAX_LATENCY_SCALE}"
        )),
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

/// `locusta compare`: two runs side by side, and a gate on regressions.
#[derive(Parser, Debug, Clone, PartialEq)]
#[command(
    name = "locusta compare",
    about = "Compare two runs per endpoint (results folders or --csv prefixes, locusta's or Locust's) and fail on regressions"
)]
pub struct CompareArgs {
    /// The baseline: a results folder or --csv prefix
    #[arg(value_name = "BASELINE")]
    pub baseline: PathBuf,
    /// The run to judge: a results folder or --csv prefix
    #[arg(value_name = "LATEST")]
    pub latest: PathBuf,
    /// Fail (exit code 3) when the median, 95th or 99th percentile or average of an endpoint grows, or its requests per second drop, by more than this, e.g. 20%
    #[arg(long = "max-regression", value_name = "PERCENT", value_parser = percent)]
    pub max_regression: Option<f64>,
    /// The limit for the median alone (over --max-regression)
    #[arg(long = "max-regression-median", value_name = "PERCENT", value_parser = percent)]
    pub median: Option<f64>,
    /// The limit for the 95th percentile alone
    #[arg(long = "max-regression-p95", value_name = "PERCENT", value_parser = percent)]
    pub p95: Option<f64>,
    /// The limit for the 99th percentile alone
    #[arg(long = "max-regression-p99", value_name = "PERCENT", value_parser = percent)]
    pub p99: Option<f64>,
    /// The limit for the average alone
    #[arg(long = "max-regression-avg", value_name = "PERCENT", value_parser = percent)]
    pub average: Option<f64>,
    /// The limit for the drop in requests per second alone
    #[arg(long = "max-regression-rps", value_name = "PERCENT", value_parser = percent)]
    pub rps: Option<f64>,
    /// Fail when an endpoint's failure rate rises by more than this many points, e.g. 1%
    #[arg(long = "max-failure-rate-increase", value_name = "PERCENT", value_parser = percent)]
    pub failure_rate: Option<f64>,
    /// Endpoints with fewer requests in either run are shown but not judged
    #[arg(long = "min-requests", value_name = "INT", default_value_t = 20)]
    pub min_requests: u64,
    /// Output format
    #[arg(long, value_enum, default_value_t = CompareFormat::Table)]
    pub format: CompareFormat,
    /// Write the output to FILE instead of stdout (the verdict still goes to stdout)
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareFormat {
    Table,
    Markdown,
    Json,
}

/// `20%` or `20`: a percentage, returned as a fraction.
fn percent(s: &str) -> Result<f64, String> {
    let number = s.trim().trim_end_matches('%');
    match number.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x / 100.0),
        _ => Err(format!("'{s}' is not a percentage (e.g. 20%)")),
    }
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
