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

/// Serves `router` over HTTPS on a free port of 127.0.0.1, with a new self-signed certificate
/// for `localhost` and 127.0.0.1; returns the port and the certificate's PEM (to trust it).
pub fn serve_tls(router: axum::Router) -> (u16, String) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    runtime().block_on(async {
        let config = axum_server::tls_rustls::RustlsConfig::from_pem(
            cert_pem.clone().into_bytes(),
            key_pem.into_bytes(),
        )
        .await
        .unwrap();
        let server = axum_server::from_tcp_rustls(listener, config).unwrap();
        tokio::spawn(server.serve(router.into_make_service()));
    });
    (port, cert_pem)
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
    // Locust's default is the web UI, which waits for a start from the page: the tests run
    // headless unless they are about the web UI (`web_command`).
    cmd.env("LOCUST_HEADLESS", "true");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// `locusta` with its web UI (no `LOCUST_HEADLESS`).
pub fn web_command(dir: &Path) -> Command {
    let mut cmd = command(dir);
    cmd.env_remove("LOCUST_HEADLESS");
    cmd
}

/// Waits for a child, killing it if it outlives `limit` (a hung run must fail the test, not
/// hang it).
pub fn finish(mut child: Child, started: Instant, limit: Duration) -> Run {
    if exit_within(&mut child, started, limit).is_none() {
        let out = child.wait_with_output().expect("output");
        panic!(
            "locusta ran longer than {limit:?}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
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

/// The child's exit status once it exits; `None` after killing it, when it outlived `limit`
/// from `started`.
fn exit_within(
    child: &mut Child,
    started: Instant,
    limit: Duration,
) -> Option<std::process::ExitStatus> {
    loop {
        match child.try_wait().expect("wait") {
            Some(status) => return Some(status),
            None if started.elapsed() > limit => {
                let _ = child.kill();
                return None;
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// A running `locusta` whose stderr is read as it comes, so a test can wait for what it
/// asserts (a log line, a file) instead of sleeping and hoping the child got there.
pub struct Watched {
    child: Child,
    started: Instant,
    stderr: std::sync::Arc<(std::sync::Mutex<String>, std::sync::Condvar)>,
    readers: Vec<std::thread::JoinHandle<String>>,
}

/// Spawns a prepared command (stdout and stderr piped, as [`command`] sets them) and starts
/// reading its stderr.
pub fn watch(cmd: &mut Command) -> Watched {
    use std::io::Read;
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn locusta");
    let stderr = std::sync::Arc::new((
        std::sync::Mutex::new(String::new()),
        std::sync::Condvar::new(),
    ));
    let mut err = child.stderr.take().expect("stderr piped");
    let mut out = child.stdout.take().expect("stdout piped");
    let shared = stderr.clone();
    let err_reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            let (text, seen) = &*shared;
            text.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
            seen.notify_all();
        }
        String::new()
    });
    let out_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        text
    });
    Watched {
        child,
        started,
        stderr,
        readers: vec![out_reader, err_reader],
    }
}

impl Watched {
    /// Blocks until stderr contains `needle`; fails the test after `limit` or when the child
    /// exits first. Returns the line that holds it.
    pub fn wait_for_log(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        let (text, seen) = &*self.stderr;
        let mut guard = text.lock().unwrap();
        while !guard.contains(needle) {
            let now = Instant::now();
            let exited = self.child.try_wait().expect("wait").is_some();
            assert!(
                now < deadline && !exited,
                "no `{needle}` in the log after {limit:?} (exited: {exited})\n{guard}"
            );
            let step = (deadline - now).min(Duration::from_millis(100));
            guard = seen.wait_timeout(guard, step).unwrap().0;
        }
        let at = guard.find(needle).expect("found above");
        let start = guard[..at].rfind('\n').map_or(0, |i| i + 1);
        let end = guard[at..].find('\n').map_or(guard.len(), |i| at + i);
        guard[start..end].to_string()
    }

    /// Waits until the stats file's Aggregated row counts at least `requests`; fails the test
    /// after 30 s or when the child exits first (the count must show while it runs).
    pub fn wait_for_requests(&mut self, stats_file: &Path, requests: u64) {
        let limit = Duration::from_secs(30);
        let deadline = Instant::now() + limit;
        while aggregated_requests(stats_file) < requests {
            let exited = self.child.try_wait().expect("wait").is_some();
            assert!(
                Instant::now() < deadline && !exited,
                "not {requests} requests in {} after {limit:?} (exited: {exited})\n{}",
                stats_file.display(),
                self.stderr.0.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[cfg(unix)]
    pub fn signal(&self, signal: i32) {
        // SAFETY: sending a signal to the child we spawned and have not reaped.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// Waits for the child to exit (killing it after `limit`: a hung run fails the test).
    pub fn finish(mut self, limit: Duration) -> Run {
        let Some(status) = exit_within(&mut self.child, self.started, limit) else {
            let _ = self.child.wait();
            panic!(
                "locusta ran longer than {limit:?}\n--- stderr\n{}",
                self.stderr.0.lock().unwrap()
            );
        };
        let elapsed = self.started.elapsed();
        let mut readers = self.readers.into_iter();
        let stdout = readers
            .next()
            .map(|r| r.join().unwrap_or_default())
            .unwrap_or_default();
        readers.for_each(|r| {
            let _ = r.join();
        });
        let stderr = self.stderr.0.lock().unwrap().clone();
        Run {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
            elapsed,
        }
    }
}

/// The request count of a stats CSV's Aggregated row, 0 while the file is missing or empty.
pub fn aggregated_requests(path: &Path) -> u64 {
    let Ok(text) = std::fs::read_to_string(path) else {
        return 0;
    };
    text.lines()
        .rev()
        .find(|l| l.starts_with(",Aggregated,"))
        .and_then(|l| l.split(',').nth(2)?.parse().ok())
        .unwrap_or(0)
}

/// A test that needs `tool` and did not find it: in CI (`CI` set, as `.ci/run` runs) that is a
/// failure, since CI installs every tool; elsewhere the test says it skipped.
pub fn missing_tool(tool: &str, what: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{tool} is missing in CI, where .ci/run installs it: {what} cannot be checked"
    );
    eprintln!("skipped: {tool} not found, so {what} is not checked here");
}

/// Runs `python3 -c script args...`; `None` (after [`missing_tool`]) when there is no python3.
pub fn python(script: &str, args: &[&std::ffi::OsStr], what: &str) -> Option<Output> {
    match Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
    {
        Ok(out) => Some(out),
        Err(_) => {
            missing_tool("python3", what);
            None
        }
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

/// The demo target's two reference-data lists in one flow, after a login, so each run asks for
/// them equally often: with tasks picked at random, the requests per second of one endpoint
/// would swing by a fifth between runs of a few seconds. Comparisons of runs use it.
pub const LISTS_SCENARIO: &str = "
users:
  Reader:
    wait_time: {constant: 0.05}
    on_start:
      - {get: /login/, name: Login page, capture: {csrf: {cookie: csrftoken}}}
      - post: /login/
        name: Login
        form: {username: 'ops{{ user_id }}', password: demo, csrfmiddlewaretoken: '{{ csrf }}'}
    tasks:
      - name: Lists
        flow:
          - {get: /reference-data/currency/, name: Currency List}
          - {get: /reference-data/country/, name: Country List}
";

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
