//! The web UI and Locust's HTTP API, driven over HTTP against the real binary: start, edit,
//! reset, stop, a new test, downloads against the `--csv` files, Locust's JSON keys and error
//! answers, `/metrics` through Prometheus' own parser, auth, base path, CORS, `--autostart`
//! with `--autoquit`, and `--headless --serve-stats`.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Watched, runtime, watch, web_command, write};
use serde_json::Value;

const SCENARIO: &str = "
users:
  Browser:
    weight: 1
    wait_time: {constant: 0.1}
    tasks:
      - {get: /fast, name: Fast}
      - {get: /fail, name: Fail}
  Api:
    weight: 1
    wait_time: {constant: 0.1}
    tasks:
      - {get: /fast, name: Api fast}
";

fn target() -> String {
    use axum::routing::get;
    let router = axum::Router::new()
        .route("/fast", get(|| async { "ok" }))
        .route(
            "/fail",
            get(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "no") }),
        );
    format!("http://{}", common::serve(router))
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

fn call(method: &str, url: &str, form: Option<&str>, headers: &[(&str, &str)]) -> Answer {
    runtime().block_on(async {
        // Redirects are answers to check, not to follow.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let mut req = client.request(method.parse().expect("method"), url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(f) = form {
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(f.to_string());
        }
        let r = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        Answer {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.text().await.expect("body"),
        }
    })
}

fn get(url: &str) -> Answer {
    call("GET", url, None, &[])
}

fn post(url: &str, form: &str) -> Answer {
    call("POST", url, Some(form), &[])
}

/// Starts locusta with its web UI on a free port; returns it and the UI's base URL.
fn start_ui(dir: &Path, args: &[&str]) -> (Watched, String) {
    let mut cmd = web_command(dir);
    cmd.args(["--web-host", "127.0.0.1", "-P", "0"]).args(args);
    let mut run = watch(&mut cmd);
    let line = run.wait_for_log("Starting web interface at ", Duration::from_secs(30));
    let url = line
        .split("Starting web interface at ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the URL in the log line")
        .to_string();
    (run, url)
}

/// A run of [`SCENARIO`] against a server of the test, with its web UI.
struct Ui {
    run: Watched,
    base: String,
    host: String,
    scenario: std::path::PathBuf,
}

/// [`start_ui`] with `-f` [`SCENARIO`] and `-H` a server of the test, then `extra`.
fn ui(dir: &Path, extra: &[&str]) -> Ui {
    let scenario = write(dir, "web.yaml", SCENARIO);
    let host = target();
    let mut args = vec!["-f", scenario.to_str().unwrap(), "-H", &host];
    args.extend_from_slice(extra);
    let (run, base) = start_ui(dir, &args);
    Ui {
        run,
        base,
        host,
        scenario,
    }
}

/// A locusta worker of the master on 127.0.0.1:`port`, running [`SCENARIO`].
fn worker(dir: &Path, scenario: &Path, port: &str) -> Watched {
    let mut cmd = common::command(dir);
    cmd.args([
        "-f",
        scenario.to_str().unwrap(),
        "--worker",
        "--master-port",
        port,
    ]);
    watch(&mut cmd)
}

/// [`ui`] as `--master` on a free port of 127.0.0.1; returns that port for the workers.
fn master_ui(dir: &Path) -> (String, Ui) {
    let port = common::closed_port().to_string();
    let ui = ui(
        dir,
        &[
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            &port,
            "--only-summary",
        ],
    );
    (port, ui)
}

/// Waits until the master's web UI counts `n` workers.
fn wait_workers(base: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&format!("{base}/worker-count")).json()["worker_count"] != n {
        assert!(Instant::now() < deadline, "never {n} workers");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls `/stats/requests` until `check` holds (or fails the test after 30 s).
fn wait_stats(base: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = get(&format!("{base}/stats/requests")).json();
        if check(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "never {what}: {v:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn aggregated(v: &Value) -> &Value {
    v["stats"]
        .as_array()
        .and_then(|rows| rows.last())
        .expect("an Aggregated row")
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/locust-webui")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json")
}

/// The whole life of a test steered over the API, as a CI script or the page does it.
#[test]
fn a_test_is_started_edited_reset_stopped_and_started_again_over_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("out");
    let Ui {
        run, base, host, ..
    } = ui(
        dir.path(),
        &["--csv", prefix.to_str().unwrap(), "--only-summary"],
    );

    // Ready: Locust's keys, plus the two older ones locust_exporter reads.
    let ready = get(&format!("{base}/stats/requests"));
    assert_eq!(ready.header("content-type"), "application/json");
    assert_eq!(ready.header("access-control-allow-origin"), "*");
    assert!(ready.body.ends_with("}\n") && ready.body.contains("\n  \"errors\": []"));
    let ready = ready.json();
    let mut want = keys(&fixture("stats_requests.local_ready.json"));
    want.insert("current_response_time_percentile_50".into());
    want.insert("current_response_time_percentile_95".into());
    assert_eq!(keys(&ready), want);
    assert_eq!(ready, {
        // Byte-for-byte Locust's answer before any request, legacy keys aside.
        let mut v = fixture("stats_requests.local_ready.json");
        v["current_response_time_percentile_50"] = 0.into();
        v["current_response_time_percentile_95"] = 0.into();
        v
    });

    // Locust's refusals, word for word.
    for (form, sample) in [
        (
            "user_count=abc&spawn_rate=1",
            "swarm.err_bad_user_count.json",
        ),
        ("user_count=1", "swarm.err_missing_spawn_rate.json"),
        (
            "user_count=1&spawn_rate=1&run_time=abc",
            "swarm.err_bad_run_time.json",
        ),
    ] {
        let answer = post(&format!("{base}/swarm"), form).json();
        let want = fixture(sample);
        assert_eq!(answer["success"], false, "{form}");
        assert_eq!(answer["message"], want["message"], "{form}");
        assert_eq!(answer["host"], Value::from(host.clone()));
    }

    let started = post(
        &format!("{base}/swarm"),
        "user_count=10&spawn_rate=100&run_time=10m",
    )
    .json();
    assert_eq!(
        keys(&started),
        keys(&fixture("swarm.ok_with_run_time.json"))
    );
    assert_eq!(started["run_time"], 600);
    let running = wait_stats(&base, "10 users running", |v| {
        v["state"] == "running" && v["user_count"] == 10
    });
    assert_eq!(keys(aggregated(&running)), {
        let sample = fixture("stats_requests.local_running.json");
        keys(aggregated(&sample))
    });

    // Edit: 10 -> 3 users, the test goes on.
    let edit = post(&format!("{base}/swarm"), "user_count=3&spawn_rate=100").json();
    assert_eq!(edit["success"], true);
    wait_stats(&base, "3 users", |v| {
        v["user_count"] == 3 && v["state"] == "running"
    });

    // Reset: the counts start over, the rows stay, the users keep running.
    let before = wait_stats(&base, "40 requests", |v| {
        aggregated(v)["num_requests"].as_u64() >= Some(40)
    });
    let rows_before = before["stats"].as_array().unwrap().len();
    // The small JSON routes, with Locust's keys.
    let tasks = get(&format!("{base}/tasks")).json();
    assert_eq!(
        keys(&tasks),
        ["per_class", "total"].map(String::from).into()
    );
    let share: f64 = ["Api", "Browser"]
        .iter()
        .map(|t| tasks["per_class"][t]["ratio"].as_f64().unwrap())
        .sum();
    assert!((share - 1.0).abs() < 1e-9, "{tasks}");
    assert_eq!(
        get(&format!("{base}/exceptions")).json(),
        serde_json::json!({"exceptions": []})
    );
    let logs = get(&format!("{base}/logs")).json();
    assert!(
        logs["master"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("Starting web interface at")),
        "{logs}"
    );
    assert_eq!(logs["workers"], serde_json::json!({}));
    // GET, as Locust before 2.47 took it.
    let reset = get(&format!("{base}/stats/reset"));
    assert_eq!((reset.status, reset.body.as_str()), (200, "ok"));
    let after = wait_stats(&base, "fewer requests after the reset", |v| {
        aggregated(v)["num_requests"].as_u64() < aggregated(&before)["num_requests"].as_u64()
    });
    assert_eq!(after["stats"].as_array().unwrap().len(), rows_before);
    assert_eq!(after["user_count"], 3);
    wait_stats(&base, "requests and a failure after the reset", |v| {
        aggregated(v)["num_requests"].as_u64() >= Some(10)
            && v["errors"].as_array().is_some_and(|e| !e.is_empty())
    });

    // Stop: answered once the users are gone; the numbers stay.
    let stop = post(&format!("{base}/stop"), "");
    assert_eq!(stop.json(), fixture("stop.json"));
    let stopped = wait_stats(&base, "stopped", |v| v["state"] == "stopped");
    assert_eq!(stopped["user_count"], 0);

    // The downloads are the --csv files' bytes of the same state, with Locust's names.
    // The file is rewritten and the copy taken at the same tick: wait for that tick.
    let file = Path::new(&format!("{}_stats.csv", prefix.display())).to_path_buf();
    let deadline = Instant::now() + Duration::from_secs(30);
    let download = loop {
        let d = get(&format!("{base}/stats/requests/csv"));
        if std::fs::read_to_string(&file).ok().as_deref() == Some(d.body.as_str()) {
            break d;
        }
        assert!(
            Instant::now() < deadline,
            "the download never equals {}",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let disposition = download.header("content-disposition").to_string();
    assert!(
        disposition.starts_with("attachment;filename=Locust_")
            && disposition.ends_with(&format!("_web.yaml_{host}_requests.csv")),
        "{disposition}"
    );
    assert!(
        download
            .body
            .starts_with("Type,Name,Request Count,Failure Count,")
    );
    let failures = get(&format!("{base}/stats/failures/csv"));
    assert_eq!(
        failures.body,
        std::fs::read_to_string(format!("{}_failures.csv", prefix.display())).unwrap()
    );
    assert!(failures.body.contains("GET,Fail,"), "{}", failures.body);
    let history = get(&format!("{base}/stats/requests_full_history/csv"));
    assert_eq!(history.status, 404);
    let report = get(&format!("{base}/stats/report?download=1"));
    assert!(report.header("content-disposition").ends_with(".html"));
    assert!(report.body.contains("Fail") && report.body.contains("<svg"));

    // A new test after a stop starts with fresh statistics.
    let again = post(&format!("{base}/swarm"), "user_count=2&spawn_rate=100").json();
    assert_eq!(again["success"], true, "{again}");
    let second = wait_stats(&base, "the second test running", |v| {
        v["state"] == "running" && v["user_count"] == 2
    });
    assert!(
        aggregated(&second)["num_requests"].as_u64()
            < aggregated(&stopped)["num_requests"].as_u64(),
        "{second:#}"
    );
    assert_eq!(get(&format!("{base}/state")).json()["tests"], 2);

    // Ctrl-C: the running test stops, every file is written, the failures set the exit code.
    wait_stats(&base, "a failure in the second test", |v| {
        v["errors"].as_array().is_some_and(|e| !e.is_empty())
    });
    run.signal(libc::SIGINT);
    let done = run.finish(Duration::from_secs(60));
    assert_eq!(done.code, 1, "{}", done.stderr);
    assert!(std::fs::read_to_string(format!("{}_stats.csv", prefix.display())).is_ok());
}

/// `/metrics` parses with Prometheus' own Python parser, with locust_exporter's names and
/// the locusta histogram's buckets adding up.
#[test]
fn metrics_parse_with_prometheus_parser() {
    let dir = tempfile::tempdir().unwrap();
    let Ui { run, base, .. } = ui(
        dir.path(),
        &["-u", "4", "-r", "100", "--autostart", "--only-summary"],
    );
    wait_stats(&base, "20 requests", |v| {
        aggregated(v)["num_requests"].as_u64() >= Some(20)
    });
    let metrics = get(&format!("{base}/metrics"));
    assert!(
        metrics
            .header("content-type")
            .starts_with("text/plain; version=0.0.4")
    );
    let text = metrics.body;
    for name in [
        "locust_users 4",
        "locust_running 2",
        "locust_requests_num_requests{method=\"GET\",name=\"Fast\"}",
        "locust_requests_num_requests{method=\"\",name=\"Aggregated\"}",
        "locust_errors{method=\"GET\",name=\"Fail\",error=\"HTTPError(",
        "locusta_response_time_seconds_bucket{method=\"GET\",name=\"Fast\",le=\"+Inf\"}",
    ] {
        assert!(text.contains(name), "no {name} in\n{text}");
    }
    let python = std::env::var("LOCUSTA_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = "
import sys
from prometheus_client.parser import text_string_to_metric_families
families = {f.name: f for f in text_string_to_metric_families(sys.stdin.read())}
h = families['locusta_response_time_seconds']
assert h.type == 'histogram', h.type
for s in h.samples:
    pass
buckets = [s for s in h.samples if s.name.endswith('_bucket') and s.labels['name'] == 'Fast']
counts = [s.value for s in buckets]
assert counts == sorted(counts), counts
total = [s.value for s in h.samples if s.name.endswith('_count') and s.labels['name'] == 'Fast'][0]
assert counts[-1] == total, (counts, total)
print(len(families), 'families', int(total), 'Fast requests')
";
    let out = std::process::Command::new(&python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())?;
            child.wait_with_output()
        });
    match out {
        Ok(out) if String::from_utf8_lossy(&out.stderr).contains("No module named") => {
            common::missing_tool("prometheus_client (pip)", "/metrics parsing")
        }
        Ok(out) => assert!(
            out.status.success(),
            "{}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) => common::missing_tool(&python, "/metrics parsing"),
    }
    run.signal(libc::SIGTERM);
    run.finish(Duration::from_secs(60));
}

/// `--web-auth`, `--web-base-path`, CORS preflights, Locust's 404 and 405 answers.
#[test]
fn auth_base_path_cors_and_unknown_routes() {
    let dir = tempfile::tempdir().unwrap();
    let Ui { run, base, .. } = ui(
        dir.path(),
        &["--web-base-path", "/locust", "--web-auth", "ops:s3cret"],
    );
    assert!(base.ends_with("/locust"), "{base}");
    let root = base.trim_end_matches("/locust");
    let basic = "Basic b3BzOnMzY3JldA=="; // ops:s3cret
    let refused = get(&format!("{base}/stats/requests"));
    assert_eq!(refused.status, 401);
    assert!(refused.header("www-authenticate").starts_with("Basic"));
    let wrong = call(
        "GET",
        &format!("{base}/stats/requests"),
        None,
        &[("authorization", "Basic b3BzOm5v")],
    );
    assert_eq!(wrong.status, 401);
    let page = call(
        "GET",
        &format!("{base}/"),
        None,
        &[("authorization", basic)],
    );
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<title>locusta</title>"));
    // Self-contained: nothing loaded from elsewhere.
    for remote in [
        "src=\"http",
        "src=\"//",
        "href=\"http",
        "href=\"//",
        "@import",
        "url(http",
    ] {
        assert!(!page.body.contains(remote), "the page loads {remote}...");
    }
    let redirect = call("GET", &base, None, &[("authorization", basic)]);
    assert_eq!(redirect.status, 308);
    assert_eq!(redirect.header("location"), format!("/locust/"));
    let outside = call(
        "GET",
        &format!("{root}/stats/requests"),
        None,
        &[("authorization", basic)],
    );
    assert_eq!(outside.status, 404);
    let unknown = call(
        "GET",
        &format!("{base}/nope"),
        None,
        &[("authorization", basic)],
    );
    assert_eq!(unknown.status, 404);
    assert!(
        unknown
            .body
            .contains("The requested URL was not found on the server.")
    );
    let wrong_method = call(
        "GET",
        &format!("{base}/swarm"),
        None,
        &[("authorization", basic)],
    );
    assert_eq!(wrong_method.status, 405);
    let preflight = call(
        "OPTIONS",
        &format!("{base}/swarm"),
        None,
        &[
            ("origin", "http://example.org"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type"),
        ],
    );
    assert_eq!(preflight.status, 200);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        "http://example.org"
    );
    assert_eq!(
        preflight.header("access-control-allow-headers"),
        "content-type"
    );
    assert_eq!(preflight.header("vary"), "Origin");
    // The old GET of /stop still stops (Locust < 2.47's scripts).
    let stop = call(
        "GET",
        &format!("{base}/stop"),
        None,
        &[("authorization", basic)],
    );
    assert_eq!(stop.json()["success"], true);
    run.signal(libc::SIGINT);
    let done = run.finish(Duration::from_secs(30));
    assert_eq!(done.code, 0, "nothing ran, nothing failed: {}", done.stderr);
}

/// The Kubernetes operator's master: `--autostart` runs the command line's test at once, and
/// `--autoquit` ends the process after it, with the usual files and exit code.
#[test]
fn autostart_and_autoquit_end_the_process_after_the_test() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("auto");
    let Ui { run, base: _, .. } = ui(
        dir.path(),
        &[
            "-u",
            "2",
            "-r",
            "10",
            "-t",
            "2s",
            "--autostart",
            "--autoquit",
            "1",
            "--exit-code-on-error",
            "0",
            "--csv",
            prefix.to_str().unwrap(),
        ],
    );
    let done = run.finish(Duration::from_secs(60));
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(
        done.stderr
            .contains("--autoquit time reached, shutting down"),
        "{}",
        done.stderr
    );
    assert!(common::aggregated_requests(&dir.path().join("auto_stats.csv")) > 0);
}

/// `--headless --serve-stats`: a CI soak that Prometheus scrapes; nothing to steer.
#[test]
fn a_headless_run_serves_the_read_only_routes_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let Ui { run, base, .. } = ui(
        dir.path(),
        &[
            "-u",
            "2",
            "-r",
            "10",
            "-t",
            "30s",
            "--headless",
            "--serve-stats",
            "--only-summary",
        ],
    );
    wait_stats(&base, "requests from 2 running users", |v| {
        v["state"] == "running" && aggregated(v)["num_requests"].as_u64() > Some(0)
    });
    assert!(
        get(&format!("{base}/metrics"))
            .body
            .contains("\nlocust_running 2")
    );
    assert_eq!(get(&format!("{base}/")).status, 404);
    assert_eq!(post(&format!("{base}/stop"), "").status, 404);
    run.signal(libc::SIGINT);
    run.finish(Duration::from_secs(60));
}

#[test]
fn web_options_are_checked_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for (args, message) in [
        (
            vec!["--autoquit", "5"],
            "--autoquit is only meaningful in combination with --autostart",
        ),
        (
            vec!["--web-base-path", "locust"],
            "Invalid format for --web-base-path argument (locust): the url path must start with a slash.",
        ),
        (
            vec!["--tls-cert", "c.pem"],
            "--tls-cert and --tls-key go together",
        ),
        (
            vec!["--web-auth", "nopassword"],
            "argument --web-auth: 'nopassword' is not USER:PASSWORD",
        ),
        (
            vec!["--serve-stats"],
            "--serve-stats is for --headless runs",
        ),
        (
            vec!["-P", "70000"],
            "argument -P/--web-port: invalid port: '70000'",
        ),
    ] {
        let run = common::run_cmd(web_command(dir.path()).args(&args));
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
    }
    // --headful undoes LOCUST_HEADLESS=true (which `command` sets): --serve-stats then has no
    // headless run to serve.
    let run = common::run_cmd(common::command(dir.path()).args(["--headful", "--serve-stats"]));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("--serve-stats is for --headless runs"),
        "{}",
        run.stderr
    );
}

/// `--master` with its web UI, as Locust's: the test starts from the API once a worker is
/// there, the workers show in `/stats/requests`, a stop keeps them for a new test, and the
/// master's Ctrl-C makes them quit.
#[test]
fn a_master_is_steered_from_its_web_ui_and_keeps_its_workers_between_tests() {
    let dir = tempfile::tempdir().unwrap();
    let (
        port,
        Ui {
            run: master,
            base,
            scenario,
            ..
        },
    ) = master_ui(dir.path());
    let worker = worker(dir.path(), &scenario, &port);
    wait_workers(&base, 1);
    for (test, users) in [(1, 4), (2, 2)] {
        let answer = post(
            &format!("{base}/swarm"),
            &format!("user_count={users}&spawn_rate=100"),
        );
        assert_eq!(
            answer.json()["success"],
            true,
            "test {test}: {}",
            answer.body
        );
        let running = wait_stats(&base, "the worker running the users", |v| {
            v["state"] == "running"
                && v["user_count"] == users
                && v["workers"][0]["state"] == "running"
                && aggregated(v)["num_requests"].as_u64() > Some(0)
        });
        assert_eq!(running["worker_count"], 1);
        assert_eq!(running["workers"][0]["user_count"], users);
        assert_eq!(post(&format!("{base}/stop"), "").json()["success"], true);
        wait_stats(&base, "the worker ready again", |v| {
            v["state"] == "stopped" && v["user_count"] == 0 && v["workers"][0]["state"] == "ready"
        });
        assert_eq!(get(&format!("{base}/state")).json()["tests"], test);
    }
    master.signal(libc::SIGINT);
    let done = master.finish(Duration::from_secs(60));
    assert_eq!(
        done.code, 1,
        "the target's /fail answers 500: {}",
        done.stderr
    );
    let worker = worker.finish(Duration::from_secs(30));
    assert_eq!(
        worker.code, 0,
        "the worker quit with its master: {}",
        worker.stderr
    );
}

/// `--tls-cert`/`--tls-key`: the UI over HTTPS, the log line saying so; a bad pair of files is
/// one line and exit code 2.
#[test]
fn the_web_ui_serves_https_with_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(dir.path(), "web.yaml", SCENARIO);
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let cert_file = write(dir.path(), "cert.pem", &cert.cert.pem());
    let key_file = write(dir.path(), "key.pem", &cert.signing_key.serialize_pem());
    let (run, base) = start_ui(
        dir.path(),
        &[
            "-f",
            scenario.to_str().unwrap(),
            "--tls-cert",
            cert_file.to_str().unwrap(),
            "--tls-key",
            key_file.to_str().unwrap(),
        ],
    );
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let answer = runtime().block_on(async {
        let root = reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap();
        let client = reqwest::Client::builder()
            .add_root_certificate(root)
            .build()
            .unwrap();
        let r = client
            .get(format!("{base}/stats/requests"))
            .send()
            .await
            .expect("an HTTPS answer");
        (r.status().as_u16(), r.text().await.unwrap())
    });
    assert_eq!(answer.0, 200);
    assert!(answer.1.contains("\"state\": \"ready\""), "{}", answer.1);
    // No -H and no host in the scenario: the UI waits for one, and a start without it says so.
    let no_host = runtime().block_on(async {
        let root = reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap();
        let client = reqwest::Client::builder()
            .add_root_certificate(root)
            .build()
            .unwrap();
        let r = client
            .post(format!("{base}/swarm"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("user_count=1&spawn_rate=1&host=")
            .send()
            .await
            .unwrap();
        serde_json::from_str::<Value>(&r.text().await.unwrap()).unwrap()
    });
    assert_eq!(no_host["success"], false);
    assert!(
        no_host["message"]
            .as_str()
            .unwrap()
            .starts_with("You must specify the base host."),
        "{no_host}"
    );
    run.signal(libc::SIGINT);
    assert_eq!(run.finish(Duration::from_secs(30)).code, 0);

    let bad = common::run_cmd(web_command(dir.path()).args([
        "-f",
        scenario.to_str().unwrap(),
        "-P",
        "0",
        "--tls-cert",
        scenario.to_str().unwrap(),
        "--tls-key",
        scenario.to_str().unwrap(),
    ]));
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    let errors: Vec<&str> = bad.stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{}", bad.stderr);
    assert!(
        errors[0].contains("cannot use --tls-cert"),
        "{}",
        bad.stderr
    );
}

/// A scenario with stages: `/swarm` runs its shape (users and rate from the stages, not the
/// form), an edit is refused, and the test stops by itself at the last stage's end. (6 s:
/// the users show at the next tick even on a loaded machine.)
#[test]
fn a_scenario_with_stages_runs_its_shape_from_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let staged = format!(
        "{SCENARIO}stages:\n  - {{duration: 6s, users: 2, spawn_rate: 10}}\n  - {{duration: 2s, users: 1}}\n"
    );
    let scenario = write(dir.path(), "staged.yaml", &staged);
    let host = target();
    let (run, base) = start_ui(
        dir.path(),
        &[
            "-f",
            scenario.to_str().unwrap(),
            "-H",
            &host,
            "--only-summary",
        ],
    );
    let started = post(&format!("{base}/swarm"), "").json();
    assert_eq!(started["success"], true, "{started}");
    assert_eq!(
        started["message"],
        "Swarming started using the scenario's stages"
    );
    wait_stats(&base, "the first stage's 2 users", |v| v["user_count"] == 2);
    let edit = post(&format!("{base}/swarm"), "user_count=9&spawn_rate=9").json();
    assert_eq!(edit["success"], false, "{edit}");
    assert!(
        edit["message"].as_str().unwrap().contains("stages"),
        "{edit}"
    );
    wait_stats(&base, "the shape's end", |v| v["state"] == "stopped");
    assert_eq!(
        get(&format!("{base}/state")).json()["ending"],
        "shape_completed"
    );
    run.signal(libc::SIGINT);
    run.finish(Duration::from_secs(30));
}

/// A test whose workers all left ends (workers_gone); the next test from the UI, with a new
/// worker, runs rather than ending at once on the old test's signal.
#[test]
fn a_master_runs_a_new_test_after_its_workers_all_left_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let (
        port,
        Ui {
            run: master,
            base,
            scenario,
            ..
        },
    ) = master_ui(dir.path());
    let first = worker(dir.path(), &scenario, &port);
    wait_workers(&base, 1);
    assert_eq!(
        post(&format!("{base}/swarm"), "user_count=2&spawn_rate=100").json()["success"],
        true
    );
    wait_stats(&base, "2 users on the worker", |v| v["user_count"] == 2);
    first.signal(libc::SIGTERM);
    assert_eq!(first.finish(Duration::from_secs(30)).code, 0);
    wait_stats(&base, "the test ended with its worker", |v| {
        v["state"] == "stopped"
    });
    assert_eq!(
        get(&format!("{base}/state")).json()["ending"],
        "workers_gone"
    );

    let second = worker(dir.path(), &scenario, &port);
    wait_workers(&base, 1);
    assert_eq!(
        post(&format!("{base}/swarm"), "user_count=3&spawn_rate=100").json()["success"],
        true
    );
    wait_stats(&base, "3 users on the new worker", |v| {
        v["state"] == "running" && v["user_count"] == 3
    });
    assert_eq!(get(&format!("{base}/state")).json()["tests"], 2);
    master.signal(libc::SIGINT);
    master.finish(Duration::from_secs(60));
    assert_eq!(second.finish(Duration::from_secs(30)).code, 0);
}
