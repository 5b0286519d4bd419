//! The command line: Locust's flags with Locust's meaning, `LOCUST_*` environment variables and
//! config files with the precedence Locust's code really has, and locusta's own subcommands.
//!
//! Precedence, highest first: command line, environment, `--config FILE`, `pyproject.toml`
//! (`[tool.locust]`), `./locusta.conf`, `./locust.conf`, `~/.locusta.conf`, `~/.locust.conf`,
//! defaults.

mod commands;
mod layers;
mod role;
pub mod values;
mod web;

pub use commands::SchemaKind;
pub use commands::{CheckArgs, CompareArgs, CompareFormat, DemoArgs, ReportArgs};
use commands::{SchemaArgs, subcommand};
pub use role::{MasterOptions, Role, WorkerOptions};
pub use web::{WebMode, WebOptions};

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgAction, CommandFactory, Parser};

use layers::{Entry, Value};

const OTHER_COMMANDS: &str = "\
Other commands:
  locusta check FILE ...       Check scenario files without running them: every problem, located
  locusta schema [summary]     Print the scenario format (or the --summary-json output's) as a JSON Schema
  locusta report RESULTS       Write the HTML report of a finished run from its CSV files
  locusta compare BASE LATEST  Compare two runs per endpoint; --max-regression 20% makes it a gate
  locusta demo [--port 8000]   Run the built-in demo target (a CisTrade-like web app)

Examples:
  locusta -f scenarios/cistrade.yaml -H http://localhost:8000 -u 300 -r 15 -t 15m --headless --csv my_stats
  locusta -f scenarios/cistrade.yaml PortfolioUser -u 200 --headless -t 1m

Settings can also come from LOCUST_* environment variables (LOCUST_USERS=10) and from
locust.conf, locusta.conf, pyproject.toml [tool.locust] or --config FILE, as in Locust.";

/// The options of a run. Every value is optional here so the sources can be layered; defaults
/// are applied in [`RunArgs::resolve`].
#[derive(Parser, Debug, Default, Clone)]
#[command(
    name = "locusta",
    about = "Load-test a web application with a YAML scenario; Locust's command line and output files.",
    override_usage = "locusta [OPTIONS] [USER_TYPE ...]\n       locusta check FILE ...\n       locusta schema\n       locusta report RESULTS [-o FILE]\n       locusta compare BASELINE LATEST [--max-regression 20%]\n       locusta demo [--port 8000]",
    after_help = OTHER_COMMANDS,
    disable_version_flag = true,
    infer_long_args = true,
    args_override_self = true,
    max_term_width = 100
)]
pub struct RunArgs {
    /// The YAML scenario file to run [default: locustfile.yaml]
    #[arg(
        short = 'f',
        long = "locustfile",
        visible_alias = "scenario",
        value_name = "FILE",
        help_heading = "Common options"
    )]
    pub locustfile: Option<String>,

    /// File to read additional configuration from (locust.conf syntax)
    #[arg(long, value_name = "FILE", help_heading = "Common options")]
    pub config: Option<String>,

    /// Host to load test, in the following format: https://www.example.com
    #[arg(short = 'H', long, value_name = "BASE URL", value_parser = values::host, help_heading = "Common options")]
    pub host: Option<String>,

    /// Peak number of concurrent users [default: 1]
    #[arg(short = 'u', long, value_name = "INT", value_parser = values::users, help_heading = "Common options")]
    pub users: Option<u64>,

    /// Rate to spawn users at (users per second) [default: 1]
    #[arg(short = 'r', long = "spawn-rate", value_name = "FLOAT", value_parser = values::spawn_rate, help_heading = "Common options")]
    pub spawn_rate: Option<f64>,

    /// Stop after the specified amount of time, e.g. (300s, 20m, 3h, 1h30m, etc.); 0 or unset: run until Ctrl-C
    #[arg(short = 't', long = "run-time", value_name = "TIME", value_parser = values::timespan, help_heading = "Common options")]
    pub run_time: Option<u64>,

    /// Stop after this many task runs in all (locust-plugins' -i): then each user stops at the start of its next task; 0 or unset: no limit
    #[arg(short = 'i', long, value_name = "INT", value_parser = values::count, help_heading = "Common options")]
    pub iterations: Option<u64>,

    /// A load shape, DURATION:USERS[:SPAWN_RATE],... as k6's --stage (2m:100,30s:500,1m:500); replaces the scenario's stages, and -u, -r and -t are ignored
    #[arg(long, value_name = "STAGES", value_parser = values::stages, help_heading = "Common options")]
    pub stages: Option<values::Stages>,

    /// Show the user types in the scenario and exit
    #[arg(short = 'l', long = "list", help_heading = "Common options")]
    pub list: bool,

    /// Run without the web UI and start the test at once
    #[arg(long, help_heading = "Common options")]
    pub headless: bool,

    /// Undo a config file's headless = true: run with the web UI
    #[arg(long, hide = true)]
    pub headful: bool,

    /// Interface the web UI listens on [default: all interfaces]
    #[arg(
        long = "web-host",
        value_name = "HOST",
        help_heading = "Web UI options"
    )]
    pub web_host: Option<String>,

    /// Port the web UI listens on; 0: any free port [default: 8089]
    #[arg(short = 'P', long = "web-port", value_name = "PORT", value_parser = values::port_or_any, help_heading = "Web UI options")]
    pub web_port: Option<u16>,

    /// Start the test at once (with -u, -r, -t) and keep the web UI up
    #[arg(long, help_heading = "Web UI options")]
    pub autostart: bool,

    /// With --autostart: quit this many seconds after the test ends
    #[arg(long, value_name = "TIME", value_parser = values::timespan, help_heading = "Web UI options")]
    pub autoquit: Option<u64>,

    /// Serve the web UI under this path, e.g. /locust (behind a reverse proxy)
    #[arg(
        long = "web-base-path",
        value_name = "PATH",
        help_heading = "Web UI options"
    )]
    pub web_base_path: Option<String>,

    /// Protect every route of the web UI with HTTP basic auth
    #[arg(
        long = "web-auth",
        value_name = "USER:PASSWORD",
        help_heading = "Web UI options"
    )]
    pub web_auth: Option<String>,

    /// TLS certificate (PEM) for serving the web UI over HTTPS (with --tls-key)
    #[arg(
        long = "tls-cert",
        value_name = "FILE",
        help_heading = "Web UI options"
    )]
    pub tls_cert: Option<String>,

    /// TLS private key (PEM) for serving the web UI over HTTPS (with --tls-cert)
    #[arg(long = "tls-key", value_name = "FILE", help_heading = "Web UI options")]
    pub tls_key: Option<String>,

    /// locusta's own: with --headless, serve the read-only routes (/stats/requests, /metrics, the downloads) on --web-host/--web-port
    #[arg(long = "serve-stats", help_heading = "Web UI options")]
    pub serve_stats: bool,

    /// Only run tasks with at least one of these tags
    #[arg(short = 'T', long, num_args = 0.., value_name = "TAG", help_heading = "Tag options")]
    pub tags: Option<Vec<String>>,

    /// Leave out tasks with any of these tags
    #[arg(short = 'E', long = "exclude-tags", num_args = 0.., value_name = "TAG", help_heading = "Tag options")]
    pub exclude_tags: Option<Vec<String>>,

    /// Write PREFIX_stats.csv, PREFIX_stats_history.csv, PREFIX_failures.csv and PREFIX_exceptions.csv (folders are created)
    #[arg(
        long = "csv",
        value_name = "PREFIX",
        help_heading = "Request statistics options"
    )]
    pub csv: Option<String>,

    /// Write every stats entry, not only Aggregated, to PREFIX_stats_history.csv (needs --csv)
    #[arg(long = "csv-full-history", help_heading = "Request statistics options")]
    pub csv_full_history: bool,

    /// locusta's own: write medians and percentiles in the CSV files as exact milliseconds (29.599) instead of Locust's whole milliseconds (30)
    #[arg(long = "csv-precise", help_heading = "Request statistics options")]
    pub csv_precise: bool,

    /// Write the HTML report to FILE at the end of the run; {u}, {r} and {t} in the name become users, spawn rate and run time
    #[arg(
        long = "html",
        value_name = "FILE",
        help_heading = "Request statistics options"
    )]
    pub html: Option<String>,

    /// A target the results must meet, e.g. "p95<500ms", "error_rate<1%", "rps>=100", "p95<200ms for GET /api/v1/projects/"; repeatable; a failed one exits with 3
    #[arg(long = "threshold", value_name = "EXPR", value_parser = values::threshold, action = ArgAction::Append, help_heading = "Thresholds")]
    pub threshold: Option<Vec<crate::gate::Threshold>>,

    /// locust-plugins: fail (exit code 3) when the total requests per second are below this
    #[arg(long = "check-rps", value_name = "FLOAT", value_parser = values::non_negative_float, help_heading = "Thresholds")]
    pub check_rps: Option<f64>,

    /// locust-plugins: fail (exit code 3) when the ratio of failed requests is above this (0.0-1.0); failed requests alone then do not fail the run
    #[arg(long = "check-fail-ratio", value_name = "FLOAT", value_parser = values::non_negative_float, help_heading = "Thresholds")]
    pub check_fail_ratio: Option<f64>,

    /// locust-plugins: fail (exit code 3) when the average response time (ms) is above this
    #[arg(long = "check-avg-response-time", value_name = "FLOAT", value_parser = values::non_negative_float, help_heading = "Thresholds")]
    pub check_avg_response_time: Option<f64>,

    /// Print the final statistics as JSON (Locust's format) to stdout
    #[arg(long = "json", help_heading = "Request statistics options")]
    pub json: bool,

    /// Write the final statistics as JSON (Locust's format) to FILE.json
    #[arg(
        long = "json-file",
        value_name = "FILE",
        help_heading = "Request statistics options"
    )]
    pub json_file: Option<String>,

    /// Write locusta's summary of the run (all statistics, percentiles, thresholds, run facts) as JSON to FILE; its schema is `locusta schema summary`
    #[arg(
        long = "summary-json",
        value_name = "FILE",
        help_heading = "Request statistics options"
    )]
    pub summary_json: Option<String>,

    /// Print the stats table periodically (locusta always does unless --only-summary)
    #[arg(long = "print-stats", help_heading = "Request statistics options")]
    pub print_stats: bool,

    /// Only print the summary at the end, not the table every 2 seconds
    #[arg(long = "only-summary", help_heading = "Request statistics options")]
    pub only_summary: bool,

    /// Reset statistics once all users have spawned
    #[arg(long = "reset-stats", help_heading = "Request statistics options")]
    pub reset_stats: bool,

    /// Accept any TLS certificate of the target (self-signed test servers)
    #[arg(long, help_heading = "Common options")]
    pub insecure: bool,

    /// Trust the PEM certificates in FILE too, besides the system's
    #[arg(long = "ca-file", value_name = "FILE", help_heading = "Common options")]
    pub ca_file: Option<String>,

    /// Close a kept-alive connection idle this long; 0 keeps none [default: 90s]
    #[arg(long = "connection-idle-timeout", value_name = "TIME", value_parser = values::timespan, help_heading = "Common options")]
    pub connection_idle_timeout: Option<u64>,

    /// Write the run's data sheet (the CisTrade guide's template, filled in) to FILE at the end
    #[arg(
        long = "run-sheet",
        value_name = "FILE",
        help_heading = "Request statistics options"
    )]
    pub run_sheet: Option<String>,

    /// DEBUG/INFO/WARNING/ERROR/CRITICAL [default: INFO]
    #[arg(short = 'L', long, value_name = "LEVEL", value_parser = values::loglevel, help_heading = "Logging options")]
    pub loglevel: Option<String>,

    /// Write the log to this file instead of stderr (the stats tables stay on stderr)
    #[arg(long, value_name = "FILE", help_heading = "Logging options")]
    pub logfile: Option<String>,

    /// Print each user type's task ratio and exit
    #[arg(long = "show-task-ratio", help_heading = "Other options")]
    pub show_task_ratio: bool,

    /// Print the task ratio as JSON and exit
    #[arg(long = "show-task-ratio-json", help_heading = "Other options")]
    pub show_task_ratio_json: bool,

    /// Show the version and exit
    #[arg(short = 'V', long, action = ArgAction::SetTrue, help_heading = "Other options")]
    pub version: bool,

    /// Exit code when any request failed or a user error happened [default: 1]
    #[arg(long = "exit-code-on-error", value_name = "INT", value_parser = values::int, help_heading = "Other options")]
    pub exit_code_on_error: Option<i64>,

    /// How long stopping users may take to finish their current task, e.g. 30s [default: 0, stop at once]
    #[arg(short = 's', long = "stop-timeout", value_name = "TIME", value_parser = values::timespan, help_heading = "Other options")]
    pub stop_timeout: Option<u64>,

    /// Run as the master of a distributed run: workers (locusta or Locust) connect and run the users
    #[arg(long, help_heading = "Distributed")]
    pub master: bool,

    /// Run as a worker of a master (locusta or Locust) at --master-host
    #[arg(long, help_heading = "Distributed")]
    pub worker: bool,

    /// Master: interface to listen on for workers [default: * (all)]
    #[arg(
        long = "master-bind-host",
        value_name = "HOST",
        help_heading = "Distributed"
    )]
    pub master_bind_host: Option<String>,

    /// Master: port to listen on for workers [default: 5557]
    #[arg(long = "master-bind-port", value_name = "PORT", value_parser = values::port, help_heading = "Distributed")]
    pub master_bind_port: Option<u16>,

    /// Master: how many workers to wait for before starting [default: 1]
    #[arg(long = "expect-workers", value_name = "INT", value_parser = values::count, help_heading = "Distributed")]
    pub expect_workers: Option<u64>,

    /// Master: give up (exit 1) when the workers have not all connected after this long [default: 0, wait forever]
    #[arg(long = "expect-workers-max-wait", value_name = "TIME", value_parser = values::timespan, help_heading = "Distributed")]
    pub expect_workers_max_wait: Option<u64>,

    /// Worker: the master's host or IP address [default: 127.0.0.1]
    #[arg(
        long = "master-host",
        value_name = "HOST",
        help_heading = "Distributed"
    )]
    pub master_host: Option<String>,

    /// Worker: the master's port [default: 5557]
    #[arg(long = "master-port", value_name = "PORT", value_parser = values::port, help_heading = "Distributed")]
    pub master_port: Option<u16>,

    /// Worker: exit when the master has said nothing for this long, e.g. 60s [default: 60s]
    #[arg(long = "master-timeout", value_name = "TIME", value_parser = values::timespan, help_heading = "Distributed")]
    pub master_timeout: Option<u64>,

    /// Run N worker processes on this machine under a master (this process), or N workers with --worker; -1: one per core
    #[arg(long, value_name = "INT", value_parser = values::int, allow_negative_numbers = true, help_heading = "Distributed")]
    pub processes: Option<i64>,

    /// Run only these user types (see --list); all types by default
    #[arg(value_name = "USER_TYPE", help_heading = "User types")]
    pub user_types: Vec<String>,
}

/// Options Locust gives no environment variable: they act once rather than configure a run.
const NOT_FROM_ENV: [&str; 5] = [
    "config",
    "list",
    "show-task-ratio",
    "show-task-ratio-json",
    "version",
];

/// The options that `LOCUST_*` variables can set, with whether each takes a list: every long
/// option but [`NOT_FROM_ENV`], read off the definitions above.
fn env_keys() -> Vec<(String, bool)> {
    RunArgs::command()
        .get_arguments()
        .filter_map(|a| {
            let long = a.get_long()?;
            let is_list = a.get_num_args().is_some_and(|n| n.max_values() > 1);
            (!NOT_FROM_ENV.contains(&long)).then(|| (long.to_string(), is_list))
        })
        .collect()
}

impl RunArgs {
    /// Fills every option this one leaves unset from `lower`.
    fn over(mut self, lower: RunArgs) -> RunArgs {
        macro_rules! fill {
            ($($field:ident),* $(,)?) => { $( if self.$field.is_none() { self.$field = lower.$field; } )* };
        }
        fill!(
            locustfile,
            config,
            host,
            users,
            spawn_rate,
            run_time,
            iterations,
            stages,
            tags,
            exclude_tags,
            csv,
            html,
            json_file,
            summary_json,
            threshold,
            check_rps,
            check_fail_ratio,
            check_avg_response_time,
            ca_file,
            run_sheet,
            loglevel,
            logfile,
            exit_code_on_error,
            stop_timeout,
            master_bind_host,
            master_bind_port,
            expect_workers,
            expect_workers_max_wait,
            master_host,
            master_port,
            master_timeout,
            processes,
            web_host,
            web_port,
            autoquit,
            web_base_path,
            web_auth,
            tls_cert,
            tls_key,
        );
        if self.user_types.is_empty() {
            self.user_types = lower.user_types;
        }
        self
    }
}

/// A resolved run configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub scenario: PathBuf,
    pub host: Option<String>,
    /// `None` when not given (a run uses 1, as Locust's headless mode does).
    pub users: Option<u64>,
    pub spawn_rate: f64,
    /// `None`: run until interrupted.
    pub run_time: Option<Duration>,
    /// `-i`: task runs in all; `None`: no limit.
    pub iterations: Option<u64>,
    /// `--stages`: replaces the scenario's load shape.
    pub stages: Option<Vec<crate::scenario::Stage>>,
    pub csv_prefix: Option<String>,
    pub csv_full_history: bool,
    /// `--csv-precise`: exact percentiles in the CSV files instead of Locust's integers.
    pub csv_precise: bool,
    /// The `--html` file name, placeholders not yet filled in.
    pub html: Option<String>,
    pub json: bool,
    /// `--json-file`: the name before `.json`.
    pub json_file: Option<String>,
    pub summary_json: Option<PathBuf>,
    /// `--threshold`, then locust-plugins' `--check-*` as thresholds.
    pub thresholds: Vec<crate::gate::Threshold>,
    pub only_summary: bool,
    pub reset_stats: bool,
    pub run_sheet: Option<PathBuf>,
    pub insecure: bool,
    pub ca_file: Option<PathBuf>,
    /// `--connection-idle-timeout`.
    pub connection_idle_timeout: Duration,
    pub stop_timeout: Duration,
    pub exit_code_on_error: i32,
    pub loglevel: String,
    pub logfile: Option<PathBuf>,
    pub tags: Vec<String>,
    pub exclude_tags: Vec<String>,
    pub list: bool,
    pub show_task_ratio: bool,
    pub show_task_ratio_json: bool,
    pub user_types: Vec<String>,
    /// Standalone, master or worker.
    pub role: Role,
    /// The web UI, unless `--headless` (or a worker) without `--serve-stats`.
    pub web: Option<WebOptions>,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Run(Box<Settings>),
    Demo(DemoArgs),
    Check(CheckArgs),
    Report(ReportArgs),
    Compare(CompareArgs),
    /// Print a JSON Schema.
    Schema(SchemaKind),
    /// Help or version text, for stdout.
    Print(String),
}

/// A command-line problem: printed as one line, exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "locusta: error: {}", self.0)
    }
}

/// Where the settings may come from besides the arguments; injectable for tests.
pub struct Environment<'a> {
    pub var: &'a dyn Fn(&str) -> Option<String>,
    pub home: Option<PathBuf>,
    /// Folder the implicit config files (`locust.conf`, ...) are read from.
    pub cwd: PathBuf,
}

impl Environment<'_> {
    pub fn process() -> Environment<'static> {
        Environment {
            var: &|name| std::env::var(name).ok(),
            home: std::env::var_os("HOME").map(PathBuf::from),
            cwd: PathBuf::from("."),
        }
    }
}

/// `-u/--users` from clap's `--users <INT>`.
fn option_label(display: &str) -> String {
    if !display.starts_with('-') {
        // A positional argument: `[KIND]`, `<FILE>`.
        return display.trim_matches(['[', ']', '<', '>', '.']).to_string();
    }
    let long = display
        .split_whitespace()
        .next()
        .unwrap_or(display)
        .trim_start_matches('-');
    let long = long.split(['=', '[']).next().unwrap_or(long);
    let cmd = RunArgs::command();
    let arg = cmd.get_arguments().find(|a| a.get_long() == Some(long));
    match arg.and_then(|a| a.get_short()) {
        Some(short) => format!("-{short}/--{long}"),
        None => format!("--{long}"),
    }
}

/// Renders a clap error as Locust's one-line argparse message.
fn usage_error(err: &clap::Error) -> UsageError {
    let ctx = |kind| match err.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => v.first().cloned(),
        _ => None,
    };
    match err.kind() {
        ErrorKind::UnknownArgument => {
            let arg = ctx(ContextKind::InvalidArg).unwrap_or_default();
            let hint = ctx(ContextKind::SuggestedArg)
                .map(|s| format!(" (did you mean '{s}'?)"))
                .unwrap_or_default();
            UsageError(format!("unrecognized arguments: {arg}{hint}"))
        }
        ErrorKind::ValueValidation | ErrorKind::InvalidValue => {
            let arg = ctx(ContextKind::InvalidArg)
                .map(|a| option_label(&a))
                .unwrap_or_default();
            let value = ctx(ContextKind::InvalidValue).unwrap_or_default();
            let why = match (
                std::error::Error::source(err),
                err.get(ContextKind::ValidValue),
            ) {
                (Some(source), _) => source.to_string(),
                (None, Some(ContextValue::Strings(choices))) => {
                    let choices: Vec<String> = choices.iter().map(|c| format!("'{c}'")).collect();
                    format!(
                        "invalid choice: '{value}' (choose from {})",
                        choices.join(", ")
                    )
                }
                (None, _) => format!("invalid value: '{value}'"),
            };
            UsageError(format!("argument {arg}: {why}"))
        }
        _ => {
            let text = err.to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ")
                .to_string();
            UsageError(first)
        }
    }
}

/// A value one config file or environment entry sets.
enum Setting {
    /// A flag, explicitly on or off (off must be able to override a lower source's on).
    Flag(String, bool),
    Options(Box<RunArgs>),
}

/// Parses one config file or environment entry with the command-line definitions, so its
/// value is checked exactly as the same option on the command line would be.
fn parse_entry(entry: &Entry) -> Result<Setting, UsageError> {
    let cmd = RunArgs::command();
    let key = entry.key.as_str();
    let known = cmd.get_arguments().find(|a| {
        a.get_long() == Some(key) || a.get_all_aliases().is_some_and(|al| al.contains(&key))
    });
    let Some(arg) = known else {
        let shown = match &entry.value {
            Value::Text(v) => format!("--{key}={v}"),
            Value::List(v) => format!("--{key}=[{}]", v.join(", ")),
        };
        return Err(UsageError(format!(
            "unrecognized arguments: {shown} (from {})",
            entry.origin
        )));
    };
    let long = arg.get_long().unwrap_or_default().to_string();
    if matches!(arg.get_action(), ArgAction::SetTrue) {
        let Value::Text(text) = &entry.value else {
            return Err(UsageError(format!(
                "{key} is a flag and takes one value (from {})",
                entry.origin
            )));
        };
        let on = values::flag(text).map_err(|_| {
            UsageError(format!(
                "Unexpected value for {}: '{text}'. Expecting 'true', 'false', 'yes', 'no', 'on', 'off', '1' or '0'",
                entry.origin
            ))
        })?;
        return Ok(Setting::Flag(long, on));
    }
    let mut argv: Vec<String> = vec!["locusta".into()];
    match &entry.value {
        Value::Text(v) => argv.push(format!("--{long}={v}")),
        Value::List(items) => {
            argv.push(format!("--{long}"));
            argv.extend(items.iter().cloned());
        }
    }
    RunArgs::try_parse_from(argv)
        .map(|a| Setting::Options(Box::new(a)))
        .map_err(|e| {
            let UsageError(msg) = usage_error(&e);
            UsageError(format!("{msg} (from {})", entry.origin))
        })
}

/// Applies one source's entries over `layer` (later entries, and later sources, win).
fn apply_source(
    layer: &mut RunArgs,
    flags: &mut HashMap<String, bool>,
    entries: &[Entry],
) -> Result<(), UsageError> {
    for entry in entries {
        match parse_entry(entry)? {
            Setting::Flag(key, on) => {
                flags.insert(key, on);
            }
            Setting::Options(args) => *layer = args.over(std::mem::take(layer)),
        }
    }
    Ok(())
}

impl RunArgs {
    /// Applies defaults and checks combinations.
    fn resolve(self, flags: &HashMap<String, bool>) -> Result<Settings, UsageError> {
        let flag = |on_cli: bool, key: &str| on_cli || flags.get(key).copied().unwrap_or(false);
        let csv_full_history = flag(self.csv_full_history, "csv-full-history");
        if csv_full_history && self.csv.is_none() {
            return Err(UsageError(
                "'--csv-full-history' requires '--csv'.".to_string(),
            ));
        }
        let csv_precise = flag(self.csv_precise, "csv-precise");
        if csv_precise && self.csv.is_none() {
            return Err(UsageError("'--csv-precise' requires '--csv'.".to_string()));
        }
        let exit_code_on_error = self.exit_code_on_error.unwrap_or(1);
        let exit_code_on_error = i32::try_from(exit_code_on_error)
            .ok()
            .filter(|c| (0..=255).contains(c))
            .ok_or_else(|| {
                UsageError(format!(
                    "argument --exit-code-on-error: must be 0 to 255, got {exit_code_on_error}"
                ))
            })?;
        let role = role::resolve(&self, flags)?;
        let web = web::resolve(&self, flags, &role)?;
        let user_types: Vec<String> = self
            .user_types
            .into_iter()
            .filter(|u| !u.is_empty())
            .collect();
        Ok(Settings {
            scenario: PathBuf::from(
                self.locustfile
                    .unwrap_or_else(|| "locustfile.yaml".to_string()),
            ),
            host: self.host,
            users: self.users,
            spawn_rate: self.spawn_rate.unwrap_or(1.0),
            run_time: self.run_time.filter(|t| *t > 0).map(Duration::from_secs),
            iterations: self.iterations.filter(|n| *n > 0),
            stages: self.stages.map(|s| s.0),
            csv_prefix: self.csv,
            csv_full_history,
            csv_precise,
            html: self.html,
            json: flag(self.json, "json"),
            json_file: self.json_file,
            summary_json: self.summary_json.map(PathBuf::from),
            thresholds: crate::gate::threshold::from_checks(
                self.threshold.unwrap_or_default(),
                self.check_rps,
                self.check_fail_ratio,
                self.check_avg_response_time,
            ),
            only_summary: flag(self.only_summary, "only-summary"),
            reset_stats: flag(self.reset_stats, "reset-stats"),
            run_sheet: self.run_sheet.map(PathBuf::from),
            insecure: flag(self.insecure, "insecure"),
            ca_file: self.ca_file.map(PathBuf::from),
            connection_idle_timeout: self
                .connection_idle_timeout
                .map_or(crate::engine::DEFAULT_IDLE_TIMEOUT, Duration::from_secs),
            stop_timeout: Duration::from_secs(self.stop_timeout.unwrap_or(0)),
            exit_code_on_error,
            loglevel: self.loglevel.unwrap_or_else(|| "INFO".to_string()),
            logfile: self.logfile.map(PathBuf::from),
            tags: self.tags.unwrap_or_default(),
            exclude_tags: self.exclude_tags.unwrap_or_default(),
            list: flag(self.list, "list"),
            show_task_ratio: flag(self.show_task_ratio, "show-task-ratio"),
            show_task_ratio_json: flag(self.show_task_ratio_json, "show-task-ratio-json"),
            user_types,
            role,
            web,
        })
    }
}

fn version_text() -> String {
    format!("locusta {}\n", env!("CARGO_PKG_VERSION"))
}

/// Parses a command line (`args[0]` is the program name).
pub fn parse(args: Vec<OsString>, env: &Environment<'_>) -> Result<Command, UsageError> {
    // Subcommands count only in first position, so they never clash with user type names.
    match args.get(1).and_then(|a| a.to_str()) {
        Some("demo") => return subcommand("demo", args, Command::Demo),
        Some("check") => return subcommand("check", args, Command::Check),
        Some("schema") => {
            return subcommand("schema", args, |a: SchemaArgs| Command::Schema(a.kind));
        }
        Some("report") => return subcommand("report", args, Command::Report),
        Some("compare") => return subcommand("compare", args, Command::Compare),
        _ => {}
    }
    let cli = match RunArgs::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            return Ok(Command::Print(e.to_string()));
        }
        Err(e) => return Err(usage_error(&e)),
    };
    if cli.version {
        return Ok(Command::Print(version_text()));
    }

    let mut layered = RunArgs::default();
    let mut flags = HashMap::new();
    let explicit = cli.config.as_ref().map(PathBuf::from);
    for file in layers::config_files(env.home.as_deref(), explicit.as_deref()) {
        let is_explicit = explicit.as_deref() == Some(file.as_path());
        let path = if file.is_absolute() || is_explicit {
            file.clone()
        } else {
            env.cwd.join(&file)
        };
        let shown = if is_explicit || env.cwd == Path::new(".") {
            file.clone()
        } else {
            path.clone()
        };
        let entries = layers::read_config_file(&path, is_explicit).map_err(UsageError)?;
        if let Some(mut entries) = entries {
            for e in &mut entries {
                if !is_explicit && !file.is_absolute() {
                    e.origin = e.origin.replacen(
                        &path.display().to_string(),
                        &shown.display().to_string(),
                        1,
                    );
                }
            }
            apply_source(&mut layered, &mut flags, &entries)?;
        }
    }
    let env_entries = layers::env_entries(&env_keys(), |name| (env.var)(name));
    apply_source(&mut layered, &mut flags, &env_entries)?;
    if let Some(classes) = (env.var)("LOCUST_USER_CLASSES")
        && layered.user_types.is_empty()
    {
        layered.user_types = classes.split_whitespace().map(String::from).collect();
    }
    let mut settings = cli.clone().over(layered).resolve(&flags)?;
    if let Some(master) = (env.var)(crate::distributed::processes::CHILD_VARIABLE) {
        settings.role = role::process_child(&master, &settings)?;
    }
    Ok(Command::Run(Box::new(settings)))
}

#[cfg(test)]
mod tests;
