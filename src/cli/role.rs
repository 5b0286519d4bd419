//! Which part this process plays in a run: alone, as the master of workers, or as a worker.

use std::collections::HashMap;
use std::time::Duration;

use super::{RunArgs, Settings, UsageError};

/// Locust's default port for workers to reach their master.
pub const DEFAULT_MASTER_PORT: u16 = 5557;

#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    Standalone,
    Master(MasterOptions),
    Worker(WorkerOptions),
}

#[derive(Debug, Clone, PartialEq)]
pub struct MasterOptions {
    pub bind_host: String,
    pub bind_port: u16,
    pub expect_workers: u64,
    /// `None`: wait for the workers forever.
    pub expect_workers_max_wait: Option<Duration>,
    /// `--processes`: start this many local workers.
    pub processes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkerOptions {
    pub master_host: String,
    pub master_port: u16,
    /// Exit after this long without a word from the master.
    pub master_timeout: Duration,
    /// The scenario file, for messages.
    pub scenario_file: String,
    /// `--processes` with `--worker`: run this many workers.
    pub processes: Option<u64>,
}

fn processes(n: Option<i64>) -> Result<Option<u64>, UsageError> {
    match n {
        None => Ok(None),
        Some(-1) => Ok(Some(
            std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        )),
        Some(n) if n > 0 && n.unsigned_abs() <= crate::limits::MAX_PROCESSES => {
            Ok(Some(n.unsigned_abs()))
        }
        Some(n) if n > 0 => Err(UsageError(format!(
            "argument --processes: at most {} processes, got {n}",
            crate::limits::MAX_PROCESSES
        ))),
        Some(n) => Err(UsageError(format!(
            "argument --processes: must be a positive number or -1 (one per core), got {n}"
        ))),
    }
}

pub fn resolve(args: &RunArgs, flags: &HashMap<String, bool>) -> Result<Role, UsageError> {
    let flag = |on_cli: bool, key: &str| on_cli || flags.get(key).copied().unwrap_or(false);
    let (master, worker) = (flag(args.master, "master"), flag(args.worker, "worker"));
    let processes = processes(args.processes)?;
    if master && worker {
        return Err(UsageError(
            "--master cannot be combined with --worker: a process is one or the other".to_string(),
        ));
    }
    if worker {
        return Ok(Role::Worker(WorkerOptions {
            master_host: args
                .master_host
                .clone()
                .unwrap_or_else(|| "127.0.0.1".to_string()),
            master_port: args.master_port.unwrap_or(DEFAULT_MASTER_PORT),
            master_timeout: Duration::from_secs(args.master_timeout.unwrap_or(60).max(1)),
            scenario_file: args
                .locustfile
                .clone()
                .unwrap_or_else(|| "locustfile.yaml".to_string()),
            processes,
        }));
    }
    if master || processes.is_some() {
        if args.expect_workers == Some(0) {
            return Err(UsageError(
                "argument --expect-workers: must be at least 1".to_string(),
            ));
        }
        return Ok(Role::Master(MasterOptions {
            bind_host: args
                .master_bind_host
                .clone()
                .unwrap_or_else(|| "*".to_string()),
            bind_port: args.master_bind_port.unwrap_or(DEFAULT_MASTER_PORT),
            expect_workers: args.expect_workers.or(processes).unwrap_or(1),
            expect_workers_max_wait: args
                .expect_workers_max_wait
                .filter(|s| *s > 0)
                .map(Duration::from_secs),
            processes,
        }));
    }
    Ok(Role::Standalone)
}

/// A worker started by `--processes`: a plain worker of the master at `HOST:PORT`.
pub fn process_child(master: &str, settings: &Settings) -> Result<Role, UsageError> {
    let bad = || {
        UsageError(format!(
            "bad LOCUSTA_PROCESS_CHILD value '{master}' (HOST:PORT)"
        ))
    };
    let (host, port) = master.rsplit_once(':').ok_or_else(bad)?;
    let master_timeout = match &settings.role {
        Role::Worker(w) => w.master_timeout,
        _ => Duration::from_secs(60),
    };
    Ok(Role::Worker(WorkerOptions {
        master_host: host.to_string(),
        master_port: port.parse().map_err(|_| bad())?,
        master_timeout,
        scenario_file: settings.scenario.display().to_string(),
        processes: None,
    }))
}
