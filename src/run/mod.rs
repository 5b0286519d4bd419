//! A load test from start to finish: load the scenario, start the engine, report every second,
//! stop on `--run-time`, Ctrl-C or SIGTERM, and always write the final files and summary.

use std::path::Path;
use std::sync::Arc;

use tokio::time::Instant;
use tracing::{info, warn};

pub mod controller;
mod distributed;
mod gates;
mod load;
pub mod options;
mod reporter;
mod results;
mod signals;
mod users;

use controller::{Command, Controller, State};
use load::{Ending, Load};
use options::RunOptions;
use reporter::Reporter;
use results::FinishedRun;
pub use signals::Signals;
use users::Users;

use crate::cli::{Role, Settings};
use crate::engine::{RunConfig, Runner};
use crate::gate::Threshold;
use crate::machine::{self, Machine};
use crate::report::console;
use crate::report::csv::CsvFiles;
use crate::report::{scenario as scenario_report, verdicts};
use crate::scenario::{self, Scenario, TagFilter, plan, select};
use crate::stats::history::History;
use crate::stats::{Stats, unix_now};
use distributed::{MasterFailure, run_worker, start_master};

/// Exit code for bad arguments, an unusable scenario, or a run that cannot start.
pub const EXIT_USAGE: i32 = 2;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn usage_failure(message: impl std::fmt::Display) -> i32 {
    console::to_stderr(&format!("locusta: error: {message}\n"));
    EXIT_USAGE
}

/// Runs the command a `Settings` describes and returns the process exit code.
pub fn execute(settings: &Settings) -> i32 {
    if let Err(e) = crate::logging::init(&settings.loglevel, settings.logfile.as_deref()) {
        return usage_failure(e);
    }
    let scenario = match scenario::load(&settings.scenario) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            for d in &e.0 {
                console::to_stderr(&format!("locusta: error: {d}\n"));
            }
            return EXIT_USAGE;
        }
    };
    if settings.list {
        console::to_stdout(&scenario_report::user_list(&scenario));
        return 0;
    }
    for t in &settings.thresholds {
        if let Err(e) = t.target.check(&scenario.request_names) {
            return usage_failure(format!(
                "argument --threshold: `{} for {}`: {e}",
                t.text, t.target
            ));
        }
    }
    let types = match select::user_types(&scenario, &settings.user_types) {
        Ok(t) => t,
        Err(e) => return usage_failure(e),
    };
    let tags = TagFilter {
        include: settings.tags.clone(),
        exclude: settings.exclude_tags.clone(),
    };
    if settings.show_task_ratio || settings.show_task_ratio_json {
        let per_class = plan::ratios(&scenario, &types, settings.users, &tags, false);
        let total = plan::ratios(&scenario, &types, settings.users, &tags, true);
        if settings.show_task_ratio {
            console::to_stdout(&scenario_report::ratio_tables(&per_class, &total));
        }
        if settings.show_task_ratio_json {
            console::to_stdout(&scenario_report::ratio_json_text(&per_class, &total));
        }
        return 0;
    }
    let config = RunConfig {
        host: settings.host.clone(),
        user_types: types,
        tags,
        insecure: settings.insecure,
        ca_file: settings.ca_file.clone(),
        iterations: settings.iterations,
    };
    if let Role::Worker(options) = &settings.role {
        return run_worker(options, scenario, config);
    }
    if matches!(settings.role, Role::Master(_)) {
        if settings.iterations.is_some() {
            return usage_failure(
                "-i/--iterations cannot be used with --master or --processes: each worker would count its own",
            );
        }
        if settings.stages.is_some() || !scenario.stages.is_empty() {
            return usage_failure(
                "a load shape (stages, --stages) cannot be used with --master or --processes yet: use -u, -r and -t",
            );
        }
    }
    let options = RunOptions::from(settings);
    let csv = match &options.outputs.csv_prefix {
        Some(prefix) => match CsvFiles::create(
            prefix,
            options.outputs.csv_full_history,
            options.outputs.csv_precision,
        ) {
            Ok(files) => Some(files),
            Err(e) => {
                return usage_failure(format!("cannot write the --csv files {prefix}_*.csv: {e}"));
            }
        },
        None => None,
    };
    let workers = cores();
    let runtime = match engine_runtime(workers) {
        Ok(r) => r,
        Err(e) => return usage_failure(format!("cannot start the runtime: {e}")),
    };
    let started = unix_now();
    let stats = Arc::new(Stats::new(workers * 2 + 2, started));
    if let Role::Master(master) = &settings.role {
        let users = match runtime.block_on(start_master(master, &scenario, &config, &stats)) {
            Ok(master) => {
                // The test starts now, not when the master began waiting for its workers:
                // Locust's total rates count from here.
                stats.reset();
                Users::Cluster(master)
            }
            Err(MasterFailure::Usage(e)) => return usage_failure(e),
            Err(MasterFailure::NoWorkers(e)) => {
                console::to_stderr(&format!("locusta: error: {e}\n"));
                return 1;
            }
        };
        return runtime.block_on(run_test(&options, scenario, config, users, stats, csv));
    }
    // Inside the runtime's context (the HTTP client may want it), but before the first log
    // line: a run that cannot start says why and nothing else.
    let runner = {
        let _context = runtime.enter();
        match Runner::new(scenario.clone(), &config, stats.clone()) {
            Ok(r) => Arc::new(r),
            Err(e) => return usage_failure(e),
        }
    };
    runtime.block_on(run_test(
        &options,
        scenario,
        config,
        Users::Local(runner),
        stats,
        csv,
    ))
}

async fn run_test(
    options: &RunOptions,
    scenario: Arc<Scenario>,
    config: RunConfig,
    users: Users,
    stats: Arc<Stats>,
    csv: Option<CsvFiles>,
) -> i32 {
    if matches!(users, Users::Local(_)) {
        info!(target: "locusta.main", "Starting locusta {VERSION}");
    }
    let started = unix_now();
    let started_at = Instant::now();
    let load = Load::new(&options.test, &scenario);
    let peak = load.users();
    let thresholds: Vec<Threshold> = scenario
        .thresholds
        .iter()
        .chain(&options.thresholds)
        .cloned()
        .collect();
    let reporter = Reporter::new(stats.clone(), users.clone(), csv, options.print_tables);
    let controller = Controller::spawn(
        users.clone(),
        stats.clone(),
        scenario.clone(),
        thresholds.clone(),
        reporter,
    );
    // Before the first user starts, so a Ctrl-C at any moment of the run is handled.
    let mut signals = Signals::new();
    let mut snapshot = controller.watch();
    controller.send(Command::Start(options.test.clone()));
    let mut asked_to_stop = false;
    let done = loop {
        tokio::select! {
            done = controller::stopped(&mut snapshot, 1) => break done,
            signal = signals.next() => {
                // The first signal stops the test, unless it is already stopping (its run time
                // is up): then, as every further one, it stops the users at once.
                if !asked_to_stop && snapshot.borrow().state != State::Stopping {
                    asked_to_stop = true;
                    controller.send(Command::Stop(Ending::Interrupted(signal)));
                } else {
                    warn!(target: "locusta.main", "Got {signal} again: stopping all users now");
                    controller.send(Command::Abort);
                }
            }
        }
    };
    let ending = done
        .ending
        .unwrap_or(Ending::Interrupted("an internal error"));
    let user_counts = done.user_counts;
    let reporter = controller.shutdown().await;
    let ended = unix_now();

    let state = stats.collect();
    let outcomes = crate::gate::evaluate(&thresholds, &state);
    gates::log_plugin_checks(&outcomes);
    let code = gates::exit_code(
        &outcomes,
        matches!(ending, Ending::ThresholdFailed),
        state.has_failures(),
        options.exit_code_on_error,
    );
    let (csv, history) = match reporter {
        Some(r) => (r.csv, r.history),
        None => (None, History::default()),
    };
    // The machine and the tested project's commit, only for the files that record them.
    let facts = options.outputs.records_facts();
    let run = FinishedRun {
        outputs: &options.outputs,
        scenario: &scenario,
        config: &config,
        users: peak,
        spawn_rate: load.spawn_rate(),
        run_time: load.run_time(),
        started,
        ended,
        ran_seconds: started_at.elapsed().as_secs(),
        user_counts,
        machine: if facts {
            Machine::read()
        } else {
            Machine::default()
        },
        git_commit: facts.then(|| machine::git_commit(Path::new("."))).flatten(),
        ending: ending.name(),
        exit_code: code,
        outcomes,
        history,
    };
    run.write_files(&state, csv);
    info!(target: "locusta.main", "Shutting down (exit code {code})");
    console::to_stderr(&console::final_summary(&state, console::name_width()));
    console::to_stderr(&verdicts::thresholds_table(&run.outcomes));
    code
}

/// The cores this process may run on (taskset, cgroup quotas).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// The runtime the users run on. On one core (taskset, a one-CPU container) a work-stealing
/// scheduler only adds hand-offs between its worker and the main thread: the single-threaded
/// one makes ~4% more requests per CPU-second (measured with bench/perf.py's setup).
fn engine_runtime(cores: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if cores == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_all()
    .build()
}
