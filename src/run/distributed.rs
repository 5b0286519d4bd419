//! The distributed parts of a run: `--worker` (and `--worker --processes`), and starting a
//! master (binding, `--processes`, waiting for `--expect-workers`) before the usual test loop.

use std::sync::Arc;
use std::time::Duration;

use tracing::info;

use super::{Signals, VERSION, usage_failure};
use crate::cli::{MasterOptions, WorkerOptions};
use crate::distributed::master::Master;
use crate::distributed::processes;
use crate::distributed::worker::{self, Exit};
use crate::engine::RunConfig;
use crate::machine;
use crate::report::console;
use crate::scenario::Scenario;
use crate::stats::Stats;

/// `--worker`: runs the users a master asks for until it says quit. Exit code 1 when the
/// master cannot be reached or goes silent, as Locust's worker does.
pub fn run_worker(options: &WorkerOptions, scenario: Arc<Scenario>, config: RunConfig) -> i32 {
    let runtime = match super::engine_runtime(super::cores()) {
        Ok(r) => r,
        Err(e) => return usage_failure(format!("cannot start the runtime: {e}")),
    };
    if let Some(n) = options.processes {
        return runtime.block_on(run_worker_processes(n, options));
    }
    machine::raise_open_files_limit();
    let exit = runtime
        .block_on(async { worker::run(options.clone(), scenario, config, Signals::new()).await });
    match exit {
        Exit::Quit => 0,
        Exit::Interrupted(signal) => {
            info!(target: "locusta.main", "Got {signal} signal, the worker quit");
            0
        }
        Exit::MasterGone(why) => {
            console::to_stderr(&format!("locusta: error: {why}\n"));
            1
        }
    }
}

/// `--worker --processes N`: N workers of the same master, each its own process; exits
/// with the first failure among them, or 0.
async fn run_worker_processes(n: u64, options: &WorkerOptions) -> i32 {
    let children = match processes::spawn_workers(n, &options.master_host, options.master_port) {
        Ok(c) => c,
        Err(e) => return usage_failure(e),
    };
    info!(target: "locusta.main", "Started {n} worker processes");
    let children = Arc::new(std::sync::Mutex::new(children));
    let waiting = {
        let children = children.clone();
        tokio::task::spawn_blocking(move || {
            let mut code = 0;
            let count = children.lock().map_or(0, |c| c.len());
            for i in 0..count {
                // Polled so the signal forwarder can reach the children meanwhile.
                loop {
                    let status = children
                        .lock()
                        .ok()
                        .and_then(|mut c| c[i].try_wait().ok().flatten());
                    if let Some(status) = status {
                        if code == 0 {
                            code = status.code().unwrap_or(1);
                        }
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            code
        })
    };
    let mut signals = Signals::new();
    tokio::pin!(waiting);
    loop {
        tokio::select! {
            code = &mut waiting => return code.unwrap_or(1),
            signal = signals.next() => {
                #[cfg(unix)]
                if let Ok(c) = children.lock() {
                    let number = if signal == "SIGINT" { libc::SIGINT } else { libc::SIGTERM };
                    processes::signal(&c, number);
                }
            }
        }
    }
}

/// Why a master could not start its test.
pub enum MasterFailure {
    /// Nothing could run, or the port could not be bound: exit code 2.
    Usage(String),
    /// The workers did not come (Locust's exit code 1).
    NoWorkers(String),
}

/// `--master`: listens for workers, starts `--processes` local ones, and waits for
/// `--expect-workers` of them before the test starts.
pub async fn start_master(
    options: &MasterOptions,
    scenario: &Scenario,
    config: &RunConfig,
    stats: &Arc<Stats>,
) -> Result<Arc<Master>, MasterFailure> {
    let types: Vec<_> =
        crate::engine::dispatch::runnable(scenario, &config.user_types, &config.tags)
            .into_iter()
            .map(|(t, _)| t)
            .collect();
    if types.is_empty() {
        return Err(MasterFailure::Usage(
            "There are no users with weight > 0 and tasks to run.".to_string(),
        ));
    }
    let (master, _serving) = Master::bind(
        options,
        types,
        scenario.user_types.len(),
        config.host.clone(),
        stats.clone(),
    )
    .await
    .map_err(MasterFailure::Usage)?;
    info!(target: "locusta.main", "Starting locusta {VERSION} as a master on {}", master.address);
    let mut children = match options.processes {
        Some(n) => processes::spawn_workers(n, "127.0.0.1", options.bind_port)
            .map_err(MasterFailure::Usage)?,
        None => Vec::new(),
    };
    let waiting = master.wait_for_workers(options.expect_workers, options.expect_workers_max_wait);
    let mut signals = Signals::new();
    let ready = tokio::select! {
        ready = waiting => ready,
        signal = signals.next() => Err(format!("got {signal} while waiting for workers")),
    };
    if let Err(e) = ready {
        for child in &mut children {
            let _ = child.kill();
            let _ = child.wait();
        }
        return Err(MasterFailure::NoWorkers(e));
    }
    processes::reap(children);
    Ok(master)
}
