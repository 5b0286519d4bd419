//! locusta next to Locust itself: the same test plan, the same server on 127.0.0.1, the files
//! compared. Needs a Locust 2.47 executable in `LOCUSTA_TEST_LOCUST` (`.ci/run` installs one
//! into `.venv`); without it they fail in CI and say that they skipped elsewhere (the format
//! checks of the other tests still compare with files Locust wrote).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use common::*;

fn locust_bin() -> Option<PathBuf> {
    let bin = PathBuf::from(std::env::var_os("LOCUSTA_TEST_LOCUST")?);
    assert!(
        bin.exists(),
        "LOCUSTA_TEST_LOCUST={} does not exist",
        bin.display()
    );
    Some(bin)
}

fn server() -> std::net::SocketAddr {
    serve(
        Router::new()
            .route("/", get(|| async { "x".repeat(1234) }))
            .route(
                "/fail",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
            )
            .route("/notfound", get(|| async { (StatusCode::NOT_FOUND, "nf") }))
            .route("/item", get(|| async { r#"{"ok": true}"# }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    "slow"
                }),
            )
            .route(
                "/api",
                axum::routing::post(|| async { (StatusCode::CREATED, r#"{"created": 1}"#) }),
            ),
    )
}

const LOCUSTFILE: &str = r#"
from locust import HttpUser, task, constant

class WebUser(HttpUser):
    wait_time = constant(0.1)
    weight = 3

    @task(3)
    def index(self):
        self.client.get("/")

    @task
    def fail(self):
        self.client.get("/fail")

    @task
    def missing(self):
        self.client.get("/notfound")

    @task
    def item(self):
        self.client.get("/item?id=7", name="/item?id=[id]")

    @task
    def refused(self):
        self.client.get("http://127.0.0.1:DEAD/refused")

class ApiUser(HttpUser):
    wait_time = constant(0.1)
    weight = 1

    @task
    def post(self):
        self.client.post("/api", json={"a": 1})
"#;

const SCENARIO: &str = r#"
users:
  WebUser:
    weight: 3
    wait_time: {constant: 0.1}
    tasks:
      - {get: /, weight: 3}
      - {get: /fail}
      - {get: /notfound}
      - {get: /item?id=7, name: "/item?id=[id]"}
      - {get: "http://127.0.0.1:DEAD/refused"}
  ApiUser:
    weight: 1
    wait_time: {constant: 0.1}
    tasks:
      - post: /api
        json: {a: 1}
"#;

struct Side {
    run: Run,
    dir: PathBuf,
}

impl Side {
    fn file(&self, kind: &str) -> PathBuf {
        self.dir.join(format!("run_{kind}.csv"))
    }
}

fn run_both(dir: &Path, extra: &[&str]) -> Option<(Side, Side)> {
    let locust = locust_bin().or_else(|| {
        missing_tool(
            "Locust (LOCUSTA_TEST_LOCUST)",
            "the side-by-side run with Locust",
        );
        None
    })?;
    let addr = server();
    let dead = closed_port().to_string();
    let host = format!("http://{addr}");
    let lf = write(dir, "lf.py", &LOCUSTFILE.replace("DEAD", &dead));
    let yaml = write(dir, "s.yaml", &SCENARIO.replace("DEAD", &dead));
    std::fs::create_dir_all(dir.join("locust")).unwrap();
    std::fs::create_dir_all(dir.join("locusta")).unwrap();
    let common = [
        "-H",
        &host,
        "-u",
        "8",
        "-r",
        "8",
        "-t",
        "3",
        "--headless",
        "--csv",
    ];

    let started = Instant::now();
    let child = std::process::Command::new(&locust)
        .current_dir(dir)
        .env("HOME", dir)
        .args(["-f", lf.to_str().unwrap()])
        .args(common)
        .arg("locust/run")
        .args(extra)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run locust");
    let locust_run = finish(child, started, Duration::from_secs(60));
    let locusta_run = locusta(
        dir,
        &[
            &["-f", yaml.to_str().unwrap()][..],
            &common,
            &["locusta/run"],
            extra,
        ]
        .concat(),
    );
    Some((
        Side {
            run: locust_run,
            dir: dir.join("locust"),
        },
        Side {
            run: locusta_run,
            dir: dir.join("locusta"),
        },
    ))
}

/// The type Python's `str()` gives a value in Locust's files.
fn kind(value: &str) -> &'static str {
    if value == "N/A" || value.is_empty() {
        "text"
    } else if value.parse::<i64>().is_ok() {
        "int"
    } else if value.parse::<f64>().is_ok() {
        "float"
    } else {
        "text"
    }
}

/// Column by column: where Locust wrote only integers, locusta does too; where Locust wrote
/// floats (`1234.0`, `0.000000`), so does locusta. A column Locust writes as int or float by
/// value (the median: an int, a float when clamped to min or max) only needs to be a number.
fn assert_same_types(ours: &Path, theirs: &Path) {
    let (mine, locust) = (csv_rows(ours), csv_rows(theirs));
    assert_eq!(mine[0], locust[0], "{}", ours.display());
    for (i, name) in locust[0].iter().enumerate() {
        let kinds = |rows: &[Vec<String>]| -> std::collections::BTreeSet<&'static str> {
            rows[1..]
                .iter()
                .map(|r| kind(&r[i]))
                .filter(|k| *k != "text")
                .collect()
        };
        let (want, got) = (kinds(&locust), kinds(&mine));
        if name.ends_with("Median Response Time") {
            // Locust's median: an int, or the raw min or max (a float) when it clamps; which
            // one depends on the samples, and locusta's and Python's speeds differ.
            assert!(
                got.iter().all(|k| *k == "int" || *k == "float"),
                "{} column `{name}`: {got:?}",
                ours.display()
            );
        } else if want.len() == 1 && !got.is_empty() {
            assert_eq!(
                got,
                want,
                "{} column `{name}`: locusta {:?}, Locust {:?}",
                ours.display(),
                mine[1..].iter().map(|r| &r[i]).collect::<Vec<_>>(),
                locust[1..].iter().map(|r| &r[i]).collect::<Vec<_>>()
            );
        }
    }
}

fn column(rows: &[Vec<String>], name: &str) -> usize {
    rows[0]
        .iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

#[test]
fn the_same_plan_gives_the_same_files() {
    let dir = tempfile::tempdir().unwrap();
    let Some((locust, ours)) = run_both(dir.path(), &["--only-summary"]) else {
        return;
    };
    assert_eq!(locust.run.code, 1, "locust: {}", locust.run.output());
    assert_eq!(ours.run.code, 1, "locusta: {}", ours.run.output());

    for kind in ["stats", "stats_history", "failures", "exceptions"] {
        assert_eq!(
            first_line(&ours.file(kind)),
            first_line(&locust.file(kind)),
            "{kind} header"
        );
    }
    for kind in ["stats", "stats_history", "failures"] {
        assert_same_types(&ours.file(kind), &locust.file(kind));
    }
    let theirs = csv_rows(&locust.file("stats"));
    let mine = csv_rows(&ours.file("stats"));
    let key = |r: &Vec<String>| (r[0].clone(), r[1].clone());
    assert_eq!(
        mine.iter().map(key).collect::<Vec<_>>(),
        theirs.iter().map(key).collect::<Vec<_>>(),
        "the same rows in the same order"
    );
    let size = column(&theirs, "Average Content Size");
    let (req, fail) = (
        column(&theirs, "Request Count"),
        column(&theirs, "Failure Count"),
    );
    for (a, b) in mine[1..].iter().zip(&theirs[1..]) {
        if !a[1].is_empty() && a[1] != "Aggregated" {
            // Bodies are fixed, so the average size is too, and written the same way (1234.0).
            assert_eq!(a[size], b[size], "content size of {}", a[1]);
        }
        let all_fail = |r: &Vec<String>| r[req] == r[fail];
        let none_fail = |r: &Vec<String>| r[fail] == "0";
        assert_eq!(
            (all_fail(a), none_fail(a)),
            (all_fail(b), none_fail(b)),
            "failure pattern of {}",
            a[1]
        );
    }

    // Failures: the same (method, name, error) rows, in the same (sha256) order.
    let errors = |side: &Side| -> Vec<(String, String, String)> {
        csv_rows(&side.file("failures"))[1..]
            .iter()
            .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
            .collect()
    };
    assert_eq!(errors(&ours), errors(&locust));

    // The console's error report names the same errors.
    let report = |side: &Side| -> Vec<String> {
        let text = &side.run.stderr;
        let start = text.find("Error report").expect("an error report");
        let mut lines: Vec<String> = text[start..]
            .lines()
            .skip(3)
            .take_while(|l| !l.starts_with("---"))
            .map(|l| l.split_once(' ').unwrap().1.trim().to_string())
            .collect();
        lines.sort();
        lines
    };
    assert_eq!(report(&ours), report(&locust));

    // Both split 8 users the same way over the two types.
    let spawned = |side: &Side| {
        side.run
            .stderr
            .lines()
            .find(|l| l.contains("All users spawned"))
            .map(|l| l.split("spawned: ").nth(1).unwrap().to_string())
    };
    assert_eq!(spawned(&ours), spawned(&locust));
    assert_eq!(
        spawned(&ours).as_deref(),
        Some("{\"ApiUser\": 2, \"WebUser\": 6} (8 total users)")
    );
}

#[test]
fn full_history_rows_follow_locusts_layout() {
    let dir = tempfile::tempdir().unwrap();
    let Some((locust, ours)) = run_both(dir.path(), &["--only-summary", "--csv-full-history"])
    else {
        return;
    };
    let layout = |side: &Side| -> BTreeMap<String, usize> {
        let mut names = BTreeMap::new();
        for r in &csv_rows(&side.file("stats_history"))[1..] {
            assert_eq!(r.len(), 24);
            *names.entry(format!("{} {}", r[2], r[3])).or_insert(0) += 1;
        }
        names.into_iter().map(|(k, v)| (k, v.min(1))).collect()
    };
    assert_eq!(
        layout(&ours),
        layout(&locust),
        "the same entries appear in the history"
    );
    assert_same_types(&ours.file("stats_history"), &locust.file("stats_history"));
    assert_same_types(&ours.file("stats"), &locust.file("stats"));
}

/// The columns Locust writes as integers, as a consumer (a Prometheus exporter of
/// `*_stats.csv`, say) reads them with Python's `int()`; the others with `float()`.
const INT_CONSUMER: &str = r#"
import csv, sys
INT = {"Request Count", "Failure Count", "50%", "66%", "75%", "80%", "90%", "95%", "98%",
       "99%", "99.9%", "99.99%", "100%", "Timestamp", "User Count", "Total Request Count",
       "Total Failure Count", "Occurrences", "Count"}
FLOAT = {"Median Response Time", "Average Response Time", "Min Response Time",
         "Max Response Time", "Average Content Size", "Requests/s", "Failures/s",
         "Total Median Response Time", "Total Average Response Time", "Total Min Response Time",
         "Total Max Response Time", "Total Average Content Size"}
read = 0
for path in sys.argv[1:]:
    rows = list(csv.DictReader(open(path, newline="")))
    for row in rows:
        for key, value in row.items():
            if value == "N/A":
                continue
            if key in INT:
                int(value)
                read += 1
            elif key in FLOAT:
                float(value)
    print(path, len(rows))
print("values read with int():", read)
"#;

/// The issue's consumer: `int()` on every column Locust writes as an integer, over every file
/// of a run that has percentiles below 1 ms, around 150 ms and clamped medians, with failures,
/// with and without `--csv-full-history`.
#[test]
fn a_consumer_that_parses_locusts_integers_reads_every_locusta_file() {
    let dir = tempfile::tempdir().unwrap();
    let addr = server();
    let dead = closed_port().to_string();
    let slow = "  SlowUser:\n    wait_time: {constant: 0.1}\n    tasks: [{get: /slow}]\n";
    write(
        dir.path(),
        "s.yaml",
        &(SCENARIO.replace("DEAD", &dead) + slow),
    );
    for (prefix, extra) in [("plain", None), ("full", Some("--csv-full-history"))] {
        let mut args = vec!["-f", "s.yaml", "-H"];
        let host = format!("http://{addr}");
        args.extend([
            host.as_str(),
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "3",
            "--only-summary",
        ]);
        args.extend(["--csv", prefix]);
        args.extend(extra);
        let run = locusta(dir.path(), &args);
        assert_eq!(run.code, 1, "{}", run.output());
        let files: Vec<PathBuf> = ["stats", "stats_history", "failures", "exceptions"]
            .iter()
            .map(|k| dir.path().join(format!("{prefix}_{k}.csv")))
            .collect();
        let args: Vec<&std::ffi::OsStr> = files.iter().map(|f| f.as_os_str()).collect();
        let Some(out) = python(INT_CONSUMER, &args, "Python's int() over locusta's files") else {
            return;
        };
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{stderr}");
        let read: u64 = stdout
            .lines()
            .last()
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0);
        assert!(read > 100, "{stdout}");
    }
}

const FAULTS_LOCUSTFILE: &str = r#"
from locust import HttpUser, task, constant

class U(HttpUser):
    wait_time = constant(0.1)

    @task
    def faults(self):
        for path in ["/reset", "/short", "/close", "/hang", "http://127.0.0.1:DEAD/refused"]:
            self.client.get(path, timeout=1)
"#;

const FAULTS_SCENARIO: &str = r#"
defaults: {timeout: 1s}
users:
  U:
    wait_time: {constant: 0.1}
    tasks:
      - flow:
          - get: /reset
          - get: /short
          - get: /close
          - get: /hang
          - get: "http://127.0.0.1:DEAD/refused"
"#;

#[test]
fn target_faults_read_the_same_as_in_locust() {
    let Some(locust) = locust_bin() else {
        missing_tool(
            "Locust (LOCUSTA_TEST_LOCUST)",
            "the side-by-side run with Locust",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let addr = common::faults::fault_server();
    let dead = closed_port().to_string();
    let host = format!("http://{addr}");
    let lf = write(
        dir.path(),
        "lf.py",
        &FAULTS_LOCUSTFILE.replace("DEAD", &dead),
    );
    let yaml = write(
        dir.path(),
        "s.yaml",
        &FAULTS_SCENARIO.replace("DEAD", &dead),
    );
    let args = [
        "-H",
        &host,
        "-u",
        "1",
        "-r",
        "1",
        "-t",
        "4",
        "--headless",
        "--only-summary",
        "--csv",
    ];
    let started = Instant::now();
    let child = std::process::Command::new(&locust)
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .args(["-f", lf.to_str().unwrap()])
        .args(args)
        .arg("locust")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run locust");
    let theirs = finish(child, started, Duration::from_secs(60));
    let ours = locusta(
        dir.path(),
        &[&["-f", yaml.to_str().unwrap()][..], &args, &["ours"]].concat(),
    );
    assert_eq!(
        (theirs.code, ours.code),
        (1, 1),
        "{}\n{}",
        theirs.output(),
        ours.output()
    );
    let errors = |prefix: &str| -> BTreeMap<String, String> {
        csv_rows(&dir.path().join(format!("{prefix}_failures.csv")))[1..]
            .iter()
            .map(|r| (r[1].clone(), r[2].clone()))
            .collect()
    };
    let (theirs, ours) = (errors("locust"), errors("ours"));
    assert_eq!(theirs.len(), 5, "{theirs:?}");
    assert_eq!(ours, theirs);
}

#[test]
fn json_output_has_locusts_keys_types_and_entries() {
    let dir = tempfile::tempdir().unwrap();
    let Some((locust, ours)) = run_both(dir.path(), &["--only-summary", "--json"]) else {
        return;
    };
    let parse = |side: &Side| -> Vec<serde_json::Value> {
        let start = side.run.stdout.find('[').expect("a JSON list on stdout");
        serde_json::from_str(&side.run.stdout[start..]).expect("JSON")
    };
    let (theirs, mine) = (parse(&locust), parse(&ours));
    let shape =
        |entries: &[serde_json::Value]| -> BTreeMap<(String, String), Vec<(String, &'static str)>> {
            entries
                .iter()
                .map(|e| {
                    let o = e.as_object().unwrap();
                    let kinds = o
                        .iter()
                        .map(|(k, v)| {
                            let kind = match v {
                                serde_json::Value::Object(_) => "object",
                                serde_json::Value::String(_) => "string",
                                serde_json::Value::Number(n) if n.is_f64() => "float",
                                serde_json::Value::Number(_) => "int",
                                _ => "other",
                            };
                            (k.clone(), kind)
                        })
                        .collect();
                    (
                        (
                            o["method"].as_str().unwrap().to_string(),
                            o["name"].as_str().unwrap().to_string(),
                        ),
                        kinds,
                    )
                })
                .collect()
        };
    let (theirs, mine) = (shape(&theirs), shape(&mine));
    assert_eq!(
        mine.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "the same entries"
    );
    for (key, kinds) in &theirs {
        // Python writes whole floats as 12.0; a refused connection's times can be whole too,
        // so compare float-or-int as "number" where Locust's value happens to be whole.
        let loose = |k: &[(String, &'static str)]| -> Vec<(String, &'static str)> {
            k.iter()
                .map(|(n, t)| {
                    (
                        n.clone(),
                        if *t == "int" || *t == "float" {
                            "number"
                        } else {
                            *t
                        },
                    )
                })
                .collect()
        };
        assert_eq!(loose(&mine[key]), loose(kinds), "keys and types of {key:?}");
    }
}
