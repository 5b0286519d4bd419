//! Helpers for tests that run the real `locusta` binary against servers on 127.0.0.1.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A runtime in the background for the servers the tests start; it lives as long as the test
/// binary.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test runtime")
    })
}

/// Serves `router` on a free port of 127.0.0.1.
pub fn serve(router: axum::Router) -> SocketAddr {
    runtime().block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, router).await });
        addr
    })
}

/// The built-in demo target on a free port; `latency_scale` 0 answers at once.
pub fn demo(latency_scale: f64) -> SocketAddr {
    runtime().block_on(async {
        locusta::demo::spawn("127.0.0.1:0", latency_scale)
            .await
            .expect("demo")
    })
}

/// A port where nothing listens (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// stdout and stderr, for assertion messages.
    pub fn output(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A command for the binary that sees no stray configuration: a fresh HOME, no `LOCUST_*`
/// variables, and `dir` as its working directory (where `locust.conf` would be read).
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_locusta"));
    cmd.current_dir(dir).env("HOME", dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("LOCUST") {
            cmd.env_remove(k);
        }
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Waits for a child, killing it if it outlives `limit` (a hung run must fail the test, not
/// hang it).
pub fn finish(mut child: Child, started: Instant, limit: Duration) -> Run {
    loop {
        match child.try_wait().expect("wait") {
            Some(_) => break,
            None if started.elapsed() > limit => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "locusta ran longer than {limit:?}\n--- stderr\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("output");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// Runs `locusta args...` in `dir` and waits (at most a minute).
pub fn locusta(dir: &Path, args: &[&str]) -> Run {
    run_cmd(command(dir).args(args))
}

/// `locusta` with its arguments in one string, split at spaces (for arguments without spaces).
pub fn locusta_line(dir: &Path, line: &str) -> Run {
    locusta(dir, &line.split_whitespace().collect::<Vec<_>>())
}

/// Spawns a prepared command and waits (at most a minute).
pub fn run_cmd(cmd: &mut Command) -> Run {
    let started = Instant::now();
    let child = cmd.spawn().expect("spawn locusta");
    finish(child, started, Duration::from_secs(60))
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write file");
    p
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Rows of a CSV file, parsed.
pub fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .records()
        .map(|r| r.expect("csv record").iter().map(String::from).collect())
        .collect()
}

/// The first line of a file, with its line end.
pub fn first_line(path: &Path) -> String {
    let text = read(path);
    let end = text.find('\n').map_or(text.len(), |i| i + 1);
    text[..end].to_string()
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Row of a stats CSV by (type, name).
pub fn stats_row<'a>(rows: &'a [Vec<String>], method: &str, name: &str) -> &'a Vec<String> {
    rows.iter()
        .find(|r| r[0] == method && r[1] == name)
        .unwrap_or_else(|| panic!("no row {method} {name} in {rows:?}"))
}

/// The write end of a pipe whose read end is already closed: writing to it fails (EPIPE),
/// like `locusta ... | head -1` after `head` exits.
#[cfg(unix)]
pub fn closed_pipe() -> Stdio {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0i32; 2];
    // SAFETY: pipe() fills two new descriptors that we then own.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: fds[0] and fds[1] were just created by pipe() and are owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    Stdio::from(write)
}
pub mod faults;
