//! `--processes N`: N workers on this machine, each a copy of this process started with the
//! same command line, so they read the same scenario, options, config files and environment.
//! `LOCUSTA_PROCESS_CHILD=HOST:PORT` turns a copy into a plain worker of that master, whatever
//! the command line or a config file says about `--master` or `--processes`.

use std::process::{Child, Command};

/// The variable that makes a copy a worker of `HOST:PORT`.
pub const CHILD_VARIABLE: &str = "LOCUSTA_PROCESS_CHILD";

/// Starts `n` workers of the master at `host:port`; they end when it tells them to quit, or
/// when it has been silent for their `--master-timeout`.
pub fn spawn_workers(n: u64, host: &str, port: u16) -> Result<Vec<Child>, String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find the locusta executable to start workers: {e}"))?;
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    (0..n)
        .map(|i| {
            Command::new(&exe)
                .args(&args)
                .env(CHILD_VARIABLE, format!("{host}:{port}"))
                .stdin(std::process::Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start worker process {}: {e}", i + 1))
        })
        .collect()
}

/// Reaps the workers in the background, so none is left a zombie while the master runs.
pub fn reap(children: Vec<Child>) {
    for mut child in children {
        std::thread::spawn(move || child.wait());
    }
}

/// Forwards a signal to the workers (a Ctrl-C in a terminal reaches them all anyway; a
/// SIGTERM from an orchestrator reaches only this process).
#[cfg(unix)]
pub fn signal(children: &[Child], signal: i32) {
    for child in children {
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: kill() only sends a signal to a process id we started.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }
}
