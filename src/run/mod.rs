//! A load test from start to finish: load the scenario, start the engine, report every second,
//! stop on `--run-time`, Ctrl-C or SIGTERM, and always write the final files and summary.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::cli::Settings;
use crate::engine::{RunConfig, Runner};
use crate::machine::{self, Machine};
use crate::report::console::{self, Rates};
use crate::report::csv::CsvFiles;
use crate::report::{run_sheet, scenario as scenario_report};
use crate::scenario::{self, Scenario, TagFilter, plan, select};
use crate::stats::{Stats, unix_now};

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
    let csv = match &settings.csv_prefix {
        Some(prefix) => match CsvFiles::create(prefix, settings.csv_full_history) {
            Ok(files) => Some(files),
            Err(e) => {
                return usage_failure(format!("cannot write the --csv files {prefix}_*.csv: {e}"));
            }
        },
        None => None,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return usage_failure(format!("cannot start the runtime: {e}")),
    };
    let config = RunConfig {
        host: settings.host.clone(),
        user_types: types,
        tags,
        insecure: settings.insecure,
        ca_file: settings.ca_file.clone(),
    };
    let started = unix_now();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let stats = Arc::new(Stats::new(workers * 2 + 2, started));
    // Inside the runtime's context (the HTTP client may want it), but before the first log
    // line: a run that cannot start says why and nothing else.
    let runner = {
        let _context = runtime.enter();
        match Runner::new(scenario.clone(), &config, stats.clone()) {
            Ok(r) => Arc::new(r),
            Err(e) => return usage_failure(e),
        }
    };
    runtime.block_on(run_test(settings, scenario, config, runner, stats, csv))
}

/// Why the test ended.
enum Ending {
    RunTime,
    Interrupted(&'static str),
}

/// Ctrl-C and SIGTERM as one stream of "please stop".
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// The name of the next signal received.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            let interrupt = async {
                match &mut self.interrupt {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            let terminate = async {
                match &mut self.terminate {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = interrupt => "SIGINT",
                _ = terminate => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

async fn sleep_or_forever(limit: Option<Duration>) {
    match limit {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// What happens every second of a run: fold the shards in, rewrite the CSV files, and every
/// other second print the table.
struct Reporter {
    stats: Arc<Stats>,
    runner: Arc<Runner>,
    csv: Option<CsvFiles>,
    print_tables: bool,
    width: usize,
    ticks: u64,
    csv_error_logged: bool,
}

impl Reporter {
    fn tick(&mut self) {
        let users = self.runner.user_count();
        let state = self.stats.collect();
        if let Some(files) = self.csv.as_mut()
            && let Err(e) = files.write(&state, users, unix_now())
            && !self.csv_error_logged
        {
            error!(target: "locusta.main", "cannot write the CSV files: {e}");
            self.csv_error_logged = true;
        }
        if self.print_tables && self.ticks % 2 == 0 {
            let table = console::stats_table(&state, self.width, Rates::Current);
            drop(state);
            console::to_stderr(&table);
        }
        self.ticks += 1;
    }

    /// Ticks every second until `stop`; the first tick is the caller's, before users start.
    async fn every_second(mut self, stop: CancellationToken) -> Reporter {
        let period = Duration::from_secs(1);
        let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => return self,
                _ = ticker.tick() => self.tick(),
            }
        }
    }
}

/// Stops every user; a second signal while they stop ends them at once.
async fn stop_users(runner: &Runner, stop_timeout: Duration, signals: &mut Signals) {
    let stopping = runner.stop(stop_timeout);
    tokio::pin!(stopping);
    loop {
        tokio::select! {
            _ = &mut stopping => return,
            signal = signals.next() => {
                warn!(target: "locusta.main", "Got {signal} again: stopping all users now");
                runner.abort();
            }
        }
    }
}

/// Ramps up, then waits forever: ramping never ends the test by itself, something else does.
async fn ramp_then_idle(
    runner: Arc<Runner>,
    stats: Arc<Stats>,
    users: u64,
    rate: f64,
    stop_timeout: Duration,
    reset_stats: bool,
) -> Ending {
    runner.ramp(users, rate, stop_timeout).await;
    if reset_stats {
        stats.reset();
        info!(target: "locusta.runners", "Resetting stats\n");
    }
    std::future::pending().await
}

async fn run_test(
    settings: &Settings,
    scenario: Arc<Scenario>,
    config: RunConfig,
    runner: Arc<Runner>,
    stats: Arc<Stats>,
    csv: Option<CsvFiles>,
) -> i32 {
    info!(target: "locusta.main", "Starting locusta {VERSION}");
    let started = unix_now();
    let started_at = Instant::now();
    let users = settings.users.unwrap_or(1);
    let fixed = runner.fixed_total();
    if fixed > users {
        warn!(
            target: "locusta.main",
            "Total fixed_count of User classes ({fixed}) is greater than the specified number of users ({users}), so not all will be spawned."
        );
    }
    if settings.spawn_rate > 100.0 {
        warn!(
            target: "locusta.main",
            "Your selected spawn rate is very high (>100), and this is known to sometimes cause issues. Do you really need to ramp up that fast?"
        );
    }
    match settings.run_time {
        Some(t) => info!(target: "locusta.main", "Run time limit set to {} seconds", t.as_secs()),
        None => info!(target: "locusta.main", "No run time limit set, use CTRL+C to interrupt"),
    }

    // As Locust: the first table and CSV row come before any user starts (User Count 0).
    let mut reporter = Reporter {
        stats: stats.clone(),
        runner: runner.clone(),
        csv,
        print_tables: !settings.only_summary,
        width: console::name_width(),
        ticks: 0,
        csv_error_logged: false,
    };
    reporter.tick();
    let reporter_stop = CancellationToken::new();
    let reporter = tokio::spawn(reporter.every_second(reporter_stop.clone()));
    let mut signals = Signals::new();
    let ending = tokio::select! {
        ending = ramp_then_idle(runner.clone(), stats.clone(), users, settings.spawn_rate, settings.stop_timeout, settings.reset_stats) => ending,
        _ = sleep_or_forever(settings.run_time) => Ending::RunTime,
        signal = signals.next() => Ending::Interrupted(signal),
    };
    match ending {
        Ending::RunTime => info!(target: "locusta.main", "--run-time limit reached, shutting down"),
        Ending::Interrupted(signal) => info!(
            target: "locusta.main",
            "Got {signal} signal, stopping users (send it again to stop at once)"
        ),
    }
    stop_users(&runner, settings.stop_timeout, &mut signals).await;
    reporter_stop.cancel();
    let mut csv = reporter.await.ok().and_then(|r| r.csv);

    let state = stats.collect();
    let code = if state.has_failures() {
        settings.exit_code_on_error
    } else {
        0
    };
    if let Some(files) = csv.as_mut()
        && let Err(e) = files.write(&state, 0, unix_now())
    {
        error!(target: "locusta.main", "cannot write the final CSV files: {e}");
    }
    if let Some(path) = &settings.run_sheet {
        write_run_sheet(
            path, settings, &scenario, &config, &state, users, started, started_at, code,
        );
    }
    info!(target: "locusta.main", "Shutting down (exit code {code})");
    console::to_stderr(&console::final_summary(&state, console::name_width()));
    code
}

#[allow(clippy::too_many_arguments)]
fn write_run_sheet(
    path: &Path,
    settings: &Settings,
    scenario: &Scenario,
    config: &RunConfig,
    state: &crate::stats::RequestStats,
    users: u64,
    started: f64,
    started_at: Instant,
    exit_code: i32,
) {
    let machine = Machine::read();
    let commit = machine::git_commit(Path::new("."));
    let user_types: Vec<String> = config
        .user_types
        .iter()
        .map(|&i| scenario.user_types[i].name.clone())
        .collect();
    let host = settings
        .host
        .clone()
        .or_else(|| scenario.host.clone())
        .unwrap_or_else(|| "(per user type)".to_string());
    let tester = std::env::var("USER").unwrap_or_else(|_| "___________".to_string());
    let facts = run_sheet::RunFacts {
        started_utc: chrono::DateTime::<chrono::Utc>::from_timestamp(started as i64, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_default(),
        tester: &tester,
        scenario: &scenario.path.display().to_string(),
        user_types: &user_types,
        host: &host,
        users,
        spawn_rate: settings.spawn_rate,
        run_time: settings.run_time.map(|d| d.as_secs()),
        ran_seconds: started_at.elapsed().as_secs(),
        version: VERSION,
        git_commit: commit.as_deref(),
        machine: &machine,
        exit_code,
    };
    let text = run_sheet::render(&facts, state);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(parent);
    }
    if let Err(e) = crate::report::csv::replace_file(path, text.as_bytes()) {
        error!(target: "locusta.main", "cannot write the run sheet {}: {e}", path.display());
    }
}
