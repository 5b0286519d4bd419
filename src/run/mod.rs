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
pub use load::Ending;
pub mod options;
mod reporter;
mod results;
mod signals;
mod users;

use controller::{Command, Controller, State};
use load::Load;
use options::RunOptions;
use reporter::Reporter;
use results::FinishedRun;
pub use signals::Signals;
use users::Users;

use crate::cli::{Role, Settings, WebMode, WebOptions};
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

/// What a web UI needs to drive a run: the controller, and what the page shows about the
/// scenario and the command line's options.
pub struct Live {
    pub control: controller::Handle,
    pub scenario: Arc<Scenario>,
    /// The user types the command line selected (all by default).
    pub types: Vec<usize>,
    pub tags: TagFilter,
    /// The command line's `-u`, `-r`, `-t`, `-H`: the form's defaults.
    pub defaults: options::TestOptions,
    pub outputs: options::Outputs,
    /// The scenario file's name, for download names.
    pub locustfile: String,
    pub master: Option<Arc<crate::distributed::master::Master>>,
}

/// Starts the web UI (`crate::web::start`, handed in by the binary so that the run layer does
/// not depend on its own driver); the returned value serves until dropped.
pub type WebStarter = fn(&WebOptions, Live) -> Result<Box<dyn std::any::Any + Send>, String>;

/// Runs the command a `Settings` describes and returns the process exit code.
pub fn execute(settings: &Settings, web: WebStarter) -> i32 {
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
        tags: tags.clone(),
        insecure: settings.insecure,
        ca_file: settings.ca_file.clone(),
        idle_timeout: Some(settings.connection_idle_timeout),
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
    let ui = matches!(
        settings.web,
        Some(WebOptions {
            mode: WebMode::Ui { .. },
            ..
        })
    );
    // A test from the page waits for nobody; `--autostart` waits for `--expect-workers`.
    let waits_for_page = matches!(
        settings.web,
        Some(WebOptions {
            mode: WebMode::Ui {
                autostart: false,
                ..
            },
            ..
        })
    );
    let web = settings.web.as_ref().map(|w| (w, web));
    if let Role::Master(master) = &settings.role {
        let mut master = master.clone();
        if waits_for_page {
            master.expect_workers = 0;
        }
        let users = match runtime.block_on(start_master(&master, &scenario, &config, &stats)) {
            Ok(master) => {
                // The test starts now, not when the master began waiting for its workers:
                // Locust's total rates count from here.
                stats.reset();
                master.keep_workers(ui);
                Users::Cluster(master)
            }
            Err(MasterFailure::Usage(e)) => return usage_failure(e),
            Err(MasterFailure::NoWorkers(e)) => {
                console::to_stderr(&format!("locusta: error: {e}\n"));
                return 1;
            }
        };
        return runtime.block_on(run_test(&options, scenario, config, users, stats, csv, web));
    }
    // Inside the runtime's context (the HTTP client may want it), but before the first log
    // line: a run that cannot start says why and nothing else.
    let users = {
        let _context = runtime.enter();
        match Runner::new(scenario.clone(), &config, stats.clone()) {
            Ok(r) => Users::Local(Arc::new(r)),
            // The page's form may still give the host (Locust's UI asks for it there): a
            // scenario that runs with any host waits for one.
            Err(_)
                if waits_for_page
                    && config.host.is_none()
                    && runs_with_a_host(&scenario, &config, &stats) =>
            {
                info!(target: "locusta.main", "No host given: enter one in the web UI's form to start a test");
                Users::Idle
            }
            Err(e) => return usage_failure(e),
        }
    };
    runtime.block_on(run_test(&options, scenario, config, users, stats, csv, web))
}

/// Whether the scenario could run if it had a host: the web UI then waits for one.
fn runs_with_a_host(scenario: &Arc<Scenario>, config: &RunConfig, stats: &Arc<Stats>) -> bool {
    let mut probe = config.clone();
    probe.host = Some("http://127.0.0.1".to_string());
    Runner::new(scenario.clone(), &probe, stats.clone()).is_ok()
}

/// Builds the users of each test: the engine built before the run for the first test that
/// asks for the command line's host and types, a fresh one (fresh feeders, `-i` count and
/// connections) for every other; a master hands back itself with the test's host.
fn users_per_test(
    first: Users,
    scenario: Arc<Scenario>,
    config: RunConfig,
    stats: Arc<Stats>,
    cli_types: Vec<String>,
) -> controller::MakeUsers {
    let mut first = Some(first);
    Box::new(move |test: &options::TestOptions| {
        let same = test.host == config.host && test.user_types == cli_types;
        if let Some(Users::Cluster(m)) = &first {
            if !test.user_types.is_empty() && test.user_types != cli_types {
                return Err(
                    "Choosing user types per test is not supported with --master yet: \
                            pass them on the master's command line"
                        .to_string(),
                );
            }
            m.set_host(test.host.clone().or_else(|| config.host.clone()));
            return Ok(Users::Cluster(m.clone()));
        }
        if same && let Some(users) = first.take().filter(|u| !matches!(u, Users::Idle)) {
            return Ok(users);
        }
        first = None;
        let mut config = config.clone();
        config.host = test.host.clone();
        if !test.user_types.is_empty() {
            config.user_types = select::user_types(&scenario, &test.user_types)?;
        }
        Runner::new(scenario.clone(), &config, stats.clone()).map(|r| Users::Local(Arc::new(r)))
    })
}

async fn run_test(
    options: &RunOptions,
    scenario: Arc<Scenario>,
    config: RunConfig,
    users: Users,
    stats: Arc<Stats>,
    csv: Option<CsvFiles>,
    web: Option<(&WebOptions, WebStarter)>,
) -> i32 {
    if matches!(users, Users::Local(_) | Users::Idle) {
        info!(target: "locusta.main", "Starting locusta {VERSION}");
    }
    let started = unix_now();
    let started_at = Instant::now();
    let thresholds: Vec<Threshold> = scenario
        .thresholds
        .iter()
        .chain(&options.thresholds)
        .cloned()
        .collect();
    let mut reporter = Reporter::new(stats.clone(), users.clone(), csv, options.print_tables);
    reporter.share = web.is_some();
    let make_users = users_per_test(
        users.clone(),
        scenario.clone(),
        config.clone(),
        stats.clone(),
        options.test.user_types.clone(),
    );
    let controller = Controller::spawn(
        make_users,
        users.clone(),
        stats.clone(),
        scenario.clone(),
        thresholds.clone(),
        reporter,
    );
    // Before the first user starts, so a Ctrl-C at any moment of the run is handled.
    let signals = Signals::new();
    let server = match web {
        Some((web_options, start)) => {
            let live = live(&controller, &scenario, &config, options, &users);
            match start(web_options, live) {
                Ok(server) => Some(server),
                Err(e) => {
                    controller.shutdown().await;
                    return usage_failure(e);
                }
            }
        }
        None => None,
    };
    let done = match web.map(|(w, _)| &w.mode) {
        Some(WebMode::Ui {
            autostart,
            autoquit,
        }) => drive_ui(&controller, signals, options, *autostart, *autoquit).await,
        _ => drive_headless(&controller, signals, options).await,
    };
    if let Users::Cluster(m) = &users
        && server.is_some()
    {
        // A master driven from the page kept its workers between tests: now they quit.
        m.keep_workers(false);
        m.quit(options.test.stop_timeout).await;
    }
    drop(server);
    let reporter = controller.shutdown().await;
    let finished = Finished {
        started: done.started.unwrap_or(started),
        ran_seconds: started_at.elapsed().as_secs(),
        ending: done
            .ending
            .unwrap_or(Ending::Interrupted("an internal error")),
        user_counts: done.user_counts,
        last_test: done.options.unwrap_or_else(|| options.test.clone()),
    };
    finish(
        options,
        &scenario,
        config,
        &stats,
        &thresholds,
        reporter,
        finished,
    )
}

/// How the run's last test went, for its files.
struct Finished {
    /// Unix seconds.
    started: f64,
    ran_seconds: u64,
    ending: Ending,
    user_counts: Vec<(String, u64)>,
    /// The options of the last test (a web UI may have changed them).
    last_test: options::TestOptions,
}

/// The end of a run: thresholds judged, every file written, the summary printed, the exit code.
fn finish(
    options: &RunOptions,
    scenario: &Scenario,
    mut config: RunConfig,
    stats: &Stats,
    thresholds: &[Threshold],
    reporter: Option<Reporter>,
    finished: Finished,
) -> i32 {
    let Finished {
        started,
        ran_seconds,
        ending,
        user_counts,
        last_test,
    } = finished;
    let load = Load::new(&last_test, scenario);
    let ended = unix_now();
    let state = stats.collect();
    let outcomes = crate::gate::evaluate(thresholds, &state);
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
    config.host = last_test.host.clone();
    // The machine and the tested project's commit, only for the files that record them.
    let facts = options.outputs.records_facts();
    let run = FinishedRun {
        outputs: &options.outputs,
        scenario,
        config: &config,
        users: load.users(),
        spawn_rate: load.spawn_rate(),
        run_time: load.run_time(),
        started,
        ended,
        ran_seconds,
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

/// What the web UI gets to drive and show.
fn live(
    controller: &Controller,
    scenario: &Arc<Scenario>,
    config: &RunConfig,
    options: &RunOptions,
    users: &Users,
) -> Live {
    Live {
        control: controller.handle(),
        scenario: scenario.clone(),
        types: config.user_types.clone(),
        tags: config.tags.clone(),
        defaults: options.test.clone(),
        outputs: options.outputs.clone(),
        locustfile: scenario_name(&options.scenario_file),
        master: match users {
            Users::Cluster(m) => Some(m.clone()),
            Users::Local(_) | Users::Idle => None,
        },
    }
}

/// The scenario's file name, as Locust names its locustfile in downloads.
fn scenario_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// `--headless`: one test from start to end; the first signal stops it, unless it is already
/// stopping (its run time is up): then, as every further one, it stops the users at once.
async fn drive_headless(
    controller: &Controller,
    mut signals: Signals,
    options: &RunOptions,
) -> controller::Snapshot {
    let mut snapshot = controller.watch();
    let (reply, answer) = tokio::sync::oneshot::channel();
    controller.send(Command::Start(options.test.clone(), Some(reply)));
    if let Ok(Err(why)) = answer.await {
        // Already logged by the controller; there is no test to wait for.
        console::to_stderr(&format!(
            "locusta: error: the test could not start: {why}\n"
        ));
        return snapshot.borrow().clone();
    }
    let mut asked_to_stop = false;
    loop {
        tokio::select! {
            done = controller::stopped(&mut snapshot, 1) => return done,
            signal = signals.next() => {
                if !asked_to_stop && snapshot.borrow().state != State::Stopping {
                    asked_to_stop = true;
                    controller.send(Command::Stop(Ending::Interrupted(signal)));
                } else {
                    warn!(target: "locusta.main", "Got {signal} again: stopping all users now");
                    controller.send(Command::Abort);
                }
            }
        }
    }
}

/// The web UI: tests start and stop from the page (the first at once with `--autostart`);
/// the process ends on a signal (after stopping a running test), or `--autoquit` after an
/// autostarted test ended by itself.
async fn drive_ui(
    controller: &Controller,
    mut signals: Signals,
    options: &RunOptions,
    autostart: bool,
    autoquit: Option<std::time::Duration>,
) -> controller::Snapshot {
    let mut snapshot = controller.watch();
    if autostart {
        controller.send(Command::Start(options.test.clone(), None));
    }
    let mut quit_at: Option<Instant> = None;
    let mut autostart_done = !autostart;
    let mut asked_to_stop = false;
    loop {
        let autoquit_due = async {
            match quit_at {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = snapshot.changed() => {
                if changed.is_err() {
                    break;
                }
                let s = snapshot.borrow_and_update().clone();
                if asked_to_stop && !s.state.is_active() {
                    break;
                }
                if !autostart_done && s.tests == 1 && s.state == State::Stopped {
                    autostart_done = true;
                    // As Locust: only a test that ended by itself (its run time, its stages)
                    // ends the process; one stopped from the page leaves the UI up.
                    match autoquit.filter(|_| s.ending != Some(Ending::Requested)) {
                        Some(after) => quit_at = Some(Instant::now() + after),
                        None => info!(target: "locusta.main", "--autoquit not specified, leaving web ui running indefinitely"),
                    }
                }
            }
            _ = autoquit_due => {
                info!(target: "locusta.main", "--autoquit time reached, shutting down");
                break;
            }
            signal = signals.next() => {
                let active = snapshot.borrow().state.is_active();
                if !asked_to_stop && active {
                    asked_to_stop = true;
                    controller.send(Command::Stop(Ending::Interrupted(signal)));
                } else if !active {
                    info!(target: "locusta.main", "Got {signal} signal, shutting down");
                    break;
                } else {
                    warn!(target: "locusta.main", "Got {signal} again: stopping all users now");
                    controller.send(Command::Abort);
                }
            }
        }
    }
    snapshot.borrow().clone()
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
