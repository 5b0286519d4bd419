//! Distributed runs on Locust's protocol, against real Locust 2.47 (`LOCUSTA_TEST_LOCUST`,
//! installed by `.ci/run`): a Python master driving locusta workers, and locusta's master
//! driving Python and locusta workers. Every check counts what the other side reports against
//! what the server on 127.0.0.1 saw.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use common::*;

fn locust_bin() -> Option<PathBuf> {
    let bin = PathBuf::from(std::env::var_os("LOCUSTA_TEST_LOCUST").or_else(|| {
        eprintln!("LOCUSTA_TEST_LOCUST is not set: skipping the run with Locust");
        None
    })?);
    assert!(bin.exists(), "LOCUSTA_TEST_LOCUST={}", bin.display());
    Some(bin)
}

/// A server that counts every request it answers.
fn counting_server() -> (std::net::SocketAddr, Arc<AtomicU64>) {
    let hits = Arc::new(AtomicU64::new(0));
    let (a, b) = (hits.clone(), hits.clone());
    let addr = serve(
        Router::new()
            .route(
                "/a",
                get(move || async move {
                    a.fetch_add(1, Ordering::SeqCst);
                    "hello"
                }),
            )
            .route(
                "/fail",
                get(move || async move {
                    b.fetch_add(1, Ordering::SeqCst);
                    (StatusCode::INTERNAL_SERVER_ERROR, "boom")
                }),
            ),
    );
    (addr, hits)
}

const SCENARIO: &str = "\
host: http://HOST
users:
  WebUser:
    weight: 3
    wait_time: {constant: 0.05}
    tasks:
      - get: /a
  ApiUser:
    weight: 1
    wait_time: {constant: 0.05}
    tasks:
      - get: /fail
";

/// The master's locustfile: only the class names and weights matter, the workers run the YAML.
const LOCUSTFILE: &str = "\
from locust import User, task, constant


class WebUser(User):
    weight = 3
    wait_time = constant(0.05)

    @task
    def a(self):
        pass


class ApiUser(User):
    weight = 1
    wait_time = constant(0.05)

    @task
    def fail(self):
        pass
";

/// Waits (at most 60 s, for a loaded machine starting Python) until `name`'s log holds
/// `needle` `count` times.
fn wait_for_log(dir: &Path, name: &str, needle: &str, count: usize) {
    let started = Instant::now();
    while log(dir, name).matches(needle).count() < count {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no {count} × '{needle}' in {name}'s log:\n{}",
            all_logs(dir)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn all_logs(dir: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "log") {
            out += &format!("--- {}\n{}\n", path.display(), read(&path));
        }
    }
    out
}

/// Every request the server answered is in the master's table, but for those still in flight
/// when the workers were told to quit (at most one per user).
fn assert_counted(total: u64, served: u64, users: u64) {
    assert!(
        total <= served && served - total <= users,
        "master counted {total}, server answered {served}"
    );
}

/// A process whose output goes to files in `dir` (a pipe nobody reads could fill and block it).
fn spawn_logged(mut cmd: Command, dir: &Path, name: &str) -> Child {
    let out = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let err = out.try_clone().unwrap();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"))
}

fn locust_master(locust: &Path, dir: &Path, port: u16, args: &[&str], name: &str) -> Child {
    let mut cmd = Command::new(locust);
    cmd.current_dir(dir)
        .env("HOME", dir)
        .args(["-f", "lf.py", "--master", "--master-bind-host", "127.0.0.1"])
        .args(["--master-bind-port", &port.to_string()])
        .args(args);
    spawn_logged(cmd, dir, name)
}

fn locusta_worker(dir: &Path, port: u16, name: &str, extra: &[&str]) -> Child {
    let mut cmd = command(dir);
    cmd.args([
        "-f",
        "s.yaml",
        "--worker",
        "--master-port",
        &port.to_string(),
    ])
    .args(extra);
    spawn_logged(cmd, dir, name)
}

/// Waits for a process to end by itself within `limit`.
fn wait_for(mut child: Child, limit: Duration, dir: &Path, name: &str) -> i32 {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name} ran longer than {limit:?}\n{}", log(dir, name));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
}

/// Requests per (method, name) in a stats CSV, and the Aggregated count.
fn counts(path: &Path) -> (Vec<(String, String, u64)>, u64) {
    let rows = csv_rows(path);
    let mut per = Vec::new();
    let mut total = 0;
    for r in &rows[1..] {
        let n: u64 = r[2].parse().unwrap();
        if r[1] == "Aggregated" {
            total = n;
        } else {
            per.push((r[0].clone(), r[1].clone(), n));
        }
    }
    (per, total)
}

fn setup(dir: &Path, host: std::net::SocketAddr) {
    write(dir, "s.yaml", &SCENARIO.replace("HOST", &host.to_string()));
    write(dir, "lf.py", LOCUSTFILE);
}

#[test]
fn a_locust_master_runs_locusta_workers_and_reports_their_requests() {
    let Some(locust) = locust_bin() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (addr, hits) = counting_server();
    setup(dir, addr);
    let port = closed_port();
    let master = locust_master(
        &locust,
        dir,
        port,
        &[
            "--headless",
            "-u",
            "8",
            "-r",
            "8",
            "-t",
            "4",
            "--expect-workers",
            "2",
            "--csv",
            "m",
        ],
        "master",
    );
    let w1 = locusta_worker(dir, port, "w1", &[]);
    let w2 = locusta_worker(dir, port, "w2", &[]);
    let master_code = wait_for(master, Duration::from_secs(40), dir, "master");
    let codes = [
        wait_for(w1, Duration::from_secs(10), dir, "w1"),
        wait_for(w2, Duration::from_secs(10), dir, "w2"),
    ];
    let master_log = log(dir, "master");
    // Requests to /fail failed, so Locust's exit code is 1; the workers quit cleanly.
    assert_eq!(master_code, 1, "{master_log}");
    assert_eq!(codes, [0, 0], "{}\n{}", log(dir, "w1"), log(dir, "w2"));
    assert!(
        master_log.contains(r#"All users spawned: {"ApiUser": 2, "WebUser": 6} (8 total users)"#),
        "{master_log}"
    );
    assert!(!master_log.contains("Traceback"), "{master_log}");
    assert!(!master_log.contains("KeyError"), "{master_log}");
    for w in ["w1", "w2"] {
        assert!(
            log(dir, w).contains("Joined the master as worker index"),
            "{}",
            log(dir, w)
        );
    }

    let (per, total) = counts(&dir.join("m_stats.csv"));
    let served = hits.load(Ordering::SeqCst);
    let names: Vec<_> = per.iter().map(|(m, n, _)| format!("{m} {n}")).collect();
    assert_eq!(names, ["GET /a", "GET /fail"]);
    assert!(per.iter().all(|(_, _, n)| *n > 10), "{per:?}");
    assert_eq!(total, per.iter().map(|(_, _, n)| n).sum::<u64>());
    assert_counted(total, served, 8);
    let failures = read(&dir.join("m_failures.csv"));
    assert!(
        failures.contains(
            "GET,/fail,HTTPError('500 Server Error: Internal Server Error for url: /fail')"
        ),
        "{failures}"
    );
}

#[test]
fn a_worker_joins_again_after_its_master_restarts() {
    let Some(locust) = locust_bin() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (addr, _hits) = counting_server();
    setup(dir, addr);
    let port = closed_port();
    let first = locust_master(
        &locust,
        dir,
        port,
        &["--headless", "-u", "2", "-r", "2", "-t", "60"],
        "first",
    );
    let worker = locusta_worker(dir, port, "worker", &[]);
    // Let the first master start the test, then kill it without a word to its workers.
    wait_for_log(dir, "first", "All users spawned", 1);
    let mut first = first;
    first.kill().unwrap();
    first.wait().unwrap();

    let second = locust_master(
        &locust,
        dir,
        port,
        &[
            "--headless",
            "-u",
            "2",
            "-r",
            "2",
            "-t",
            "3",
            "--csv",
            "second",
        ],
        "second",
    );
    let second_code = wait_for(second, Duration::from_secs(40), dir, "second");
    let worker_code = wait_for(worker, Duration::from_secs(10), dir, "worker");
    let worker_log = log(dir, "worker");
    assert_eq!(worker_code, 0, "{worker_log}");
    assert!(worker_log.contains("joining again"), "{worker_log}");
    assert_eq!(second_code, 1, "{}", log(dir, "second"));
    let (per, _) = counts(&dir.join("second_stats.csv"));
    assert!(
        per.iter().any(|(_, name, n)| name == "/a" && *n > 5),
        "{per:?}\n{worker_log}"
    );
}

#[test]
fn a_worker_without_a_master_gives_up_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (addr, _) = counting_server();
    setup(dir, addr);
    let port = closed_port().to_string();
    let run = locusta(
        dir,
        &[
            "-f",
            "s.yaml",
            "--worker",
            "--master-port",
            &port,
            "--master-timeout",
            "1",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.output());
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("locusta: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.output());
    assert!(
        errors[0].contains(&format!("tcp://127.0.0.1:{port}")),
        "{}",
        errors[0]
    );
    // 5 x the 1 s --master-timeout, where the default would wait 300 s; generous for a
    // loaded machine.
    assert!(run.elapsed < Duration::from_secs(40), "{:?}", run.elapsed);
}

#[test]
fn conflicting_roles_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write(
        dir,
        "s.yaml",
        "host: http://127.0.0.1:1\nusers:\n  U:\n    tasks: [{get: /}]\n",
    );
    let run = locusta_line(dir, "-f s.yaml --master --worker");
    assert_eq!(run.code, 2, "{}", run.output());
    assert!(
        run.stderr
            .contains("--master cannot be combined with --worker")
    );
    let run = locusta_line(dir, "-f s.yaml --processes 0");
    assert_eq!(run.code, 2, "{}", run.output());
    assert!(
        run.stderr.contains("argument --processes"),
        "{}",
        run.output()
    );
    let run = locusta_line(dir, "-f s.yaml --worker --master-port 70000");
    assert_eq!(run.code, 2, "{}", run.output());
    assert!(run.stderr.contains("--master-port"), "{}", run.output());
}

/// Python workers that really send requests, under names that tell them apart in the table.
const HTTP_LOCUSTFILE: &str = "\
from locust import HttpUser, task, constant


class WebUser(HttpUser):
    weight = 3
    wait_time = constant(0.05)

    @task
    def a(self):
        self.client.get('/a', name='/a (python)')


class ApiUser(HttpUser):
    weight = 1
    wait_time = constant(0.05)

    @task
    def fail(self):
        self.client.get('/fail', name='/fail (python)')
";

fn locusta_master(dir: &Path, args: &[&str]) -> Child {
    let mut cmd = command(dir);
    cmd.args([
        "-f",
        "s.yaml",
        "--master",
        "--master-bind-host",
        "127.0.0.1",
    ])
    .args(args);
    spawn_logged(cmd, dir, "master")
}

#[test]
fn a_locusta_master_runs_locusta_and_python_workers_and_merges_their_stats() {
    let Some(locust) = locust_bin() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (addr, hits) = counting_server();
    setup(dir, addr);
    write(dir, "http.py", HTTP_LOCUSTFILE);
    let port = closed_port().to_string();
    let master = locusta_master(
        dir,
        &[
            "--master-bind-port",
            &port,
            "--expect-workers",
            "3",
            "-H",
            &format!("http://{addr}"),
            "-u",
            "6",
            "-r",
            "6",
            "-t",
            "4",
            "--csv",
            "m",
            "--html",
            "m.html",
            "--only-summary",
        ],
    );
    let w1 = locusta_worker(dir, port.parse().unwrap(), "w1", &[]);
    let w2 = locusta_worker(dir, port.parse().unwrap(), "w2", &[]);
    let mut cmd = Command::new(&locust);
    cmd.current_dir(dir).env("HOME", dir).args([
        "-f",
        "http.py",
        "--worker",
        "--master-port",
        &port,
    ]);
    let python = spawn_logged(cmd, dir, "python");

    let master_code = wait_for(master, Duration::from_secs(40), dir, "master");
    let master_log = log(dir, "master");
    assert_eq!(master_code, 1, "{master_log}");
    for (child, name) in [(w1, "w1"), (w2, "w2"), (python, "python")] {
        assert_eq!(
            wait_for(child, Duration::from_secs(10), dir, name),
            0,
            "{}",
            log(dir, name)
        );
    }
    // Locust's split of 6 users at weights 3:1, two per worker.
    assert!(
        master_log.contains(r#"All users spawned: {"ApiUser": 2, "WebUser": 4} (6 total users)"#),
        "{master_log}"
    );
    assert!(
        !log(dir, "python").contains("Traceback"),
        "{}",
        log(dir, "python")
    );

    let (per, total) = counts(&dir.join("m_stats.csv"));
    let names: Vec<_> = per.iter().map(|(_, n, _)| n.as_str()).collect();
    assert!(names.contains(&"/a"), "{per:?}");
    // The Python worker's users are WebUsers or ApiUsers: one of its rows must be there.
    assert!(
        names.iter().any(|n| n.ends_with("(python)")),
        "the Python worker's requests are in the table: {per:?}"
    );
    let served = hits.load(Ordering::SeqCst);
    assert_counted(total, served, 6);
    let failures = read(&dir.join("m_failures.csv"));
    assert!(failures.contains("GET,/fail"), "{failures}");
    assert!(read(&dir.join("m.html")).contains("/a"));
}

#[test]
fn processes_runs_local_workers_under_one_master() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (addr, hits) = counting_server();
    setup(dir, addr);
    let port = closed_port().to_string();
    let run = locusta(
        dir,
        &[
            "-f",
            "s.yaml",
            "--processes",
            "2",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            &port,
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "3",
            "--csv",
            "p",
            "--csv-precise",
            "--only-summary",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.output());
    assert_eq!(
        run.stderr
            .matches("Joined the master as worker index")
            .count(),
        2,
        "{}",
        run.output()
    );
    let (per, total) = counts(&dir.join("p_stats.csv"));
    assert_eq!(per.len(), 2, "{per:?}");
    // Exact percentiles (--csv-precise): the workers' microseconds, not whole milliseconds.
    let rows = csv_rows(&dir.join("p_stats.csv"));
    let median = &stats_row(&rows, "GET", "/a")[4];
    assert!(median.contains('.'), "median {median} looks bucketed");
    let served = hits.load(Ordering::SeqCst);
    assert!(total > 20, "master counted {total}");
    assert_counted(total, served, 4);
}

#[test]
fn a_missing_worker_has_its_users_dealt_to_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (addr, _hits) = counting_server();
    setup(dir, addr);
    let port = closed_port();
    let master = locusta_master(
        dir,
        &[
            "--master-bind-port",
            &port.to_string(),
            "--expect-workers",
            "2",
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "12",
            "--csv",
            "m",
            "--only-summary",
        ],
    );
    let mut doomed = locusta_worker(dir, port, "doomed", &[]);
    let survivor = locusta_worker(dir, port, "survivor", &[]);
    wait_for_log(dir, "master", "All users spawned", 1);
    doomed.kill().unwrap();
    doomed.wait().unwrap();
    let code = wait_for(master, Duration::from_secs(40), dir, "master");
    let master_log = log(dir, "master");
    assert_eq!(code, 1, "{master_log}");
    assert_eq!(
        wait_for(survivor, Duration::from_secs(10), dir, "survivor"),
        0
    );
    assert!(
        master_log.contains("setting state to missing"),
        "{master_log}"
    );
    // The history's last rows before the workers quit: all 4 users again, on the one worker
    // left (without the redistribution they would read 2).
    let rows = csv_rows(&dir.join("m_stats_history.csv"));
    let users = rows[0].iter().position(|c| c == "User Count").unwrap();
    let last: Vec<&str> = rows
        .iter()
        .rev()
        .map(|r| r[users].as_str())
        .filter(|n| *n != "0")
        .take(2)
        .collect();
    assert_eq!(last, ["4", "4"], "{master_log}");
}

#[test]
fn a_master_without_workers_gives_up_after_the_max_wait() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (addr, _) = counting_server();
    setup(dir, addr);
    let port = closed_port().to_string();
    let run = locusta(
        dir,
        &[
            "-f",
            "s.yaml",
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            &port,
            "--expect-workers-max-wait",
            "1",
            "-t",
            "5",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.output());
    assert!(
        run.stderr
            .contains("Gave up waiting for workers to connect: 0 of 1"),
        "{}",
        run.output()
    );
}

/// The Kubernetes example must use flags locusta accepts, in the roles it claims.
#[test]
fn the_kubernetes_example_uses_flags_locusta_accepts() {
    use locusta::cli::{self, Command as Parsed, Environment, Role};
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes/locusta.yaml");
    let text = read(&path);
    let mut roles = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let doc: serde_yaml::Value = serde::Deserialize::deserialize(doc).unwrap();
        let containers = &doc["spec"]["template"]["spec"]["containers"];
        let Some(containers) = containers.as_sequence() else {
            continue;
        };
        for c in containers {
            let mut argv = vec![std::ffi::OsString::from("locusta")];
            for a in c["args"].as_sequence().unwrap() {
                argv.push(a.as_str().unwrap().into());
            }
            let env = Environment {
                var: &|_| None,
                home: None,
                cwd: std::env::temp_dir(),
            };
            match cli::parse(argv.clone(), &env) {
                Ok(Parsed::Run(settings)) => roles.push(match settings.role {
                    Role::Master(m) => format!(
                        "master expecting {}, web UI {:?}",
                        m.expect_workers,
                        settings.web.map(|w| (w.port, w.mode))
                    ),
                    Role::Worker(w) => format!("worker of {}:{}", w.master_host, w.master_port),
                    Role::Standalone => "standalone".to_string(),
                }),
                other => panic!("{argv:?}: {other:?}"),
            }
        }
    }
    assert_eq!(
        roles,
        [
            "master expecting 4, web UI Some((8089, Ui { autostart: true, autoquit: Some(60s) }))",
            "worker of locusta-master:5557"
        ]
    );
}

/// Stop from Locust's web UI, a new test, and SIGTERM to the master: the worker stops its
/// users, says client_stopped, rejoins, runs again, and quits with the master.
#[test]
fn a_worker_follows_stop_and_a_new_start_from_the_web_ui() {
    let Some(locust) = locust_bin() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (addr, _hits) = counting_server();
    setup(dir, addr);
    let port = closed_port();
    let web = closed_port();
    let mut master = locust_master(
        &locust,
        dir,
        port,
        &[
            "--web-host",
            "127.0.0.1",
            "--web-port",
            &web.to_string(),
            "--autostart",
            "-u",
            "2",
            "-r",
            "2",
        ],
        "master",
    );
    let worker = locusta_worker(dir, port, "worker", &[]);
    let post = |path: &str, form: &[(&str, &str)]| {
        let url = format!("http://127.0.0.1:{web}{path}");
        let body: Vec<String> = form.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let body = body.join("&");
        runtime().block_on(async move {
            let response = reqwest::Client::new()
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(
                response.status().is_success(),
                "{url}: {}",
                response.status()
            );
        });
    };
    wait_for_log(dir, "master", "All users spawned", 1);
    post("/stop", &[]);
    // client_stopped, then client_ready again: the master reports it ready a second time.
    wait_for_log(dir, "master", "reported as ready", 2);
    post("/swarm", &[("user_count", "3"), ("spawn_rate", "3")]);
    wait_for_log(dir, "master", "All users spawned", 2);
    // SIGTERM: the master quits its workers and exits.
    // SAFETY: kill() sends a signal to the child we started.
    unsafe { libc::kill(master.id() as i32, libc::SIGTERM) };
    let _ = master.wait();
    let worker_code = wait_for(worker, Duration::from_secs(10), dir, "worker");
    let worker_log = log(dir, "worker");
    assert_eq!(worker_code, 0, "{worker_log}");
    assert!(
        worker_log.contains("The master stopped the test"),
        "{worker_log}"
    );
    assert_eq!(
        worker_log.matches("Joined the master").count(),
        2,
        "{worker_log}"
    );
    let master_log = log(dir, "master");
    assert!(
        master_log.contains(r#"All users spawned: {"ApiUser": 1, "WebUser": 2} (3 total users)"#),
        "{master_log}"
    );
    assert!(!master_log.contains("Traceback"), "{master_log}");
}

#[test]
fn a_worker_exits_when_its_master_is_gone_for_good() {
    let Some(locust) = locust_bin() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (addr, _hits) = counting_server();
    setup(dir, addr);
    let port = closed_port();
    let mut master = locust_master(
        &locust,
        dir,
        port,
        &["--headless", "-u", "2", "-r", "2", "-t", "60"],
        "master",
    );
    let worker = locusta_worker(dir, port, "worker", &["--master-timeout", "3"]);
    wait_for_log(dir, "master", "All users spawned", 1);
    master.kill().unwrap();
    master.wait().unwrap();
    let killed = Instant::now();
    let code = wait_for(worker, Duration::from_secs(50), dir, "worker");
    let worker_log = log(dir, "worker");
    assert_eq!(code, 1, "{worker_log}");
    assert!(worker_log.contains("has been silent for"), "{worker_log}");
    // --master-timeout 3, where the default is 60 s; generous for a loaded machine.
    assert!(
        killed.elapsed() < Duration::from_secs(40),
        "{:?}",
        killed.elapsed()
    );
}

#[test]
fn an_interrupted_master_quits_its_workers_and_writes_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (addr, hits) = counting_server();
    setup(dir, addr);
    let port = closed_port();
    let master = locusta_master(
        dir,
        &[
            "--master-bind-port",
            &port.to_string(),
            "-u",
            "2",
            "-r",
            "2",
            "-t",
            "60",
            "--csv",
            "m",
            "--html",
            "m.html",
            "--only-summary",
        ],
    );
    let worker = locusta_worker(dir, port, "worker", &[]);
    wait_for_log(dir, "master", "All users spawned", 1);
    // The worker reports every 3 s; the master's files show its first report.
    let started = std::time::Instant::now();
    while aggregated_requests(&dir.join("m_stats.csv")) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no report reached the master's files: {}",
            log(dir, "master")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill() sends a signal to the child we started.
    unsafe { libc::kill(master.id() as i32, libc::SIGINT) };
    let code = wait_for(master, Duration::from_secs(15), dir, "master");
    let master_log = log(dir, "master");
    assert_eq!(code, 1, "failures happened: {master_log}");
    assert_eq!(wait_for(worker, Duration::from_secs(10), dir, "worker"), 0);
    for file in [
        "m_stats.csv",
        "m_stats_history.csv",
        "m_failures.csv",
        "m_exceptions.csv",
        "m.html",
    ] {
        assert!(dir.join(file).exists(), "{file} missing: {master_log}");
    }
    let (_, total) = counts(&dir.join("m_stats.csv"));
    let served = hits.load(Ordering::SeqCst);
    assert!(total > 0, "master counted {total}");
    assert_counted(total, served, 2);
}

#[test]
fn worker_processes_join_one_master() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (addr, hits) = counting_server();
    setup(dir, addr);
    let port = closed_port();
    let master = locusta_master(
        dir,
        &[
            "--master-bind-port",
            &port.to_string(),
            "--expect-workers",
            "2",
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "3",
            "--csv",
            "m",
            "--only-summary",
        ],
    );
    let workers = locusta_worker(dir, port, "workers", &["--processes", "2"]);
    let code = wait_for(master, Duration::from_secs(30), dir, "master");
    let master_log = log(dir, "master");
    assert_eq!(code, 1, "{master_log}");
    assert_eq!(
        wait_for(workers, Duration::from_secs(10), dir, "workers"),
        0,
        "{}",
        log(dir, "workers")
    );
    assert_eq!(
        master_log.matches("reported as ready").count(),
        2,
        "{master_log}"
    );
    let (_, total) = counts(&dir.join("m_stats.csv"));
    let served = hits.load(Ordering::SeqCst);
    assert!(total > 20, "master counted {total}");
    assert_counted(total, served, 4);
}

/// Locust's own variable names for the distributed options, which break its LOCUST_<NAME> rule.
#[test]
fn locusts_distributed_environment_variables_work() {
    use locusta::cli::{self, Command as Parsed, Environment, Role};
    let parse = |vars: &'static [(&'static str, &'static str)], args: &[&str]| {
        let lookup = move |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let env = Environment {
            var: &lookup,
            home: None,
            cwd: std::env::temp_dir(),
        };
        let argv = std::iter::once("locusta").chain(args.iter().copied());
        match cli::parse(argv.map(Into::into).collect(), &env) {
            Ok(Parsed::Run(settings)) => Ok(settings.role),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.0),
        }
    };
    let worker = parse(
        &[
            ("LOCUST_MODE_WORKER", "true"),
            ("LOCUST_MASTER_NODE_HOST", "10.0.0.5"),
            ("LOCUST_MASTER_NODE_PORT", "6000"),
        ],
        &[],
    );
    match worker {
        Ok(Role::Worker(w)) => {
            assert_eq!((w.master_host.as_str(), w.master_port), ("10.0.0.5", 6000))
        }
        other => panic!("{other:?}"),
    }
    match parse(
        &[
            ("LOCUST_MODE_MASTER", "true"),
            ("LOCUST_EXPECT_WORKERS", "3"),
        ],
        &[],
    ) {
        Ok(Role::Master(m)) => assert_eq!((m.expect_workers, m.bind_port), (3, 5557)),
        other => panic!("{other:?}"),
    }
    // --processes -1: one worker per core, and the master expects them all.
    let cores = std::thread::available_parallelism().unwrap().get() as u64;
    match parse(&[], &["--processes", "-1"]) {
        Ok(Role::Master(m)) => assert_eq!((m.processes, m.expect_workers), (Some(cores), cores)),
        other => panic!("{other:?}"),
    }
    let refused = parse(&[], &["--master", "--expect-workers", "0"]).unwrap_err();
    assert!(
        refused.contains("--expect-workers: must be at least 1"),
        "{refused}"
    );
}

#[test]
fn a_worker_says_once_which_asked_for_type_it_lacks_and_runs_the_others() {
    let Some(locust) = locust_bin() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (addr, _hits) = counting_server();
    setup(dir, addr);
    // The master knows a third class that the worker's scenario does not define.
    let extra = format!(
        "{LOCUSTFILE}\n\nclass ExtraUser(User):\n    weight = 4\n    wait_time = constant(0.05)\n\n    @task\n    def x(self):\n        pass\n"
    );
    write(dir, "lf.py", &extra);
    let port = closed_port();
    let master = locust_master(
        &locust,
        dir,
        port,
        // Two ramp steps: two spawns that both ask for ExtraUsers.
        &["--headless", "-u", "8", "-r", "4", "-t", "4", "--csv", "m"],
        "master",
    );
    let worker = locusta_worker(dir, port, "worker", &[]);
    assert_eq!(wait_for(master, Duration::from_secs(40), dir, "master"), 1);
    assert_eq!(wait_for(worker, Duration::from_secs(10), dir, "worker"), 0);
    let worker_log = log(dir, "worker");
    assert_eq!(
        worker_log.matches("users of type ExtraUser, which").count(),
        1,
        "{worker_log}"
    );
    let (per, _) = counts(&dir.join("m_stats.csv"));
    assert!(per.iter().any(|(_, n, c)| n == "/a" && *c > 0), "{per:?}");
}
