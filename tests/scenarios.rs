//! The shipped scenarios and the scenario tooling: `locusta check`, `locusta schema`, and the
//! example scenarios of the other guides run against a permissive local API.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use common::*;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn shipped_scenarios() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_shipped_scenario_checks_clean() {
    let dir = tempfile::tempdir().unwrap();
    let files = shipped_scenarios();
    assert!(files.len() >= 3, "{files:?}");
    for f in &files {
        let run = locusta(dir.path(), &["check", f.to_str().unwrap()]);
        assert_eq!(run.code, 0, "{}", run.output());
        assert!(run.stdout.contains(": OK ("), "{}", run.output());
    }
}

#[test]
fn check_lists_every_problem_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "good.yaml",
        "host: http://x.org\nusers:\n  A:\n    tasks: [{get: /}]\n",
    );
    write(
        d,
        "bad.yaml",
        "users:\n  PortfolioUser:\n    wieght: 3\n    wait_time: {betwen: [1, 2]}\n    tasks:\n      - get: /a\n        nmae: x\n        weight: lots\n",
    );
    let run = locusta_line(d, "check good.yaml bad.yaml");
    assert_eq!(run.code, 2, "{}", run.output());
    assert!(
        run.stdout.contains("good.yaml: OK (1 user type, 1 task)\n"),
        "{}",
        run.output()
    );
    let problems: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("bad.yaml:"))
        .collect();
    assert_eq!(
        problems,
        [
            "bad.yaml:3:5: unknown key `wieght` in user `PortfolioUser`, did you mean `weight`?",
            "bad.yaml:4:17: unknown key `betwen` in `users.PortfolioUser.wait_time`, did you mean `between`?",
            "bad.yaml:7:9: unknown key `nmae` in `users.PortfolioUser.tasks[0]`, did you mean `name`?",
            "bad.yaml:8:9: users.PortfolioUser.tasks[0].weight: expected a whole number, found the text \"lots\"",
        ],
        "{}",
        run.output()
    );
    assert!(
        run.stderr.contains("bad.yaml: 4 problems"),
        "{}",
        run.output()
    );
    // A run of the same file says the same, before anything starts.
    let run = locusta_line(d, "-f bad.yaml -t 1");
    assert_eq!(run.code, 2);
    assert_eq!(run.stderr.lines().count(), 4, "{}", run.output());
    // Semantic problems too, with the variable that nothing captures.
    write(
        d,
        "var.yaml",
        "host: http://x.org\nusers:\n  A:\n    tasks:\n      - get: /a/{{ id }}/\n",
    );
    let run = locusta_line(d, "check var.yaml");
    assert_eq!(run.code, 2);
    assert!(
        run.stdout
            .contains("var.yaml:5:9: users.A.tasks[0]: `{{ id }}` is never captured by user `A`"),
        "{}",
        run.output()
    );
    let run = locusta_line(d, "check");
    assert_eq!(run.code, 2, "a file is required: {}", run.output());
    write(d, "hostless.yaml", "users:\n  A:\n    tasks: [{get: /}]\n");
    let run = locusta_line(d, "check hostless.yaml");
    assert_eq!(run.code, 0);
    assert!(
        run.stdout
            .contains("note: no `host` for A; give -H/--host when running"),
        "{}",
        run.output()
    );
}

#[test]
fn the_shipped_schema_is_the_one_the_code_derives() {
    let dir = tempfile::tempdir().unwrap();
    let run = locusta_line(dir.path(), "schema");
    assert_eq!(run.code, 0);
    let shipped = read(&root().join("schemas/scenario.schema.json"));
    assert_eq!(
        run.stdout, shipped,
        "schemas/scenario.schema.json is stale: run `cargo run -- schema > schemas/scenario.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&shipped).unwrap();
    assert_eq!(schema["title"], "locusta scenario");
    for key in ["host", "defaults", "data", "users"] {
        assert!(schema["properties"][key].is_object(), "{key}");
    }
    assert_eq!(schema["additionalProperties"], false);
    // Every shipped scenario points editors at it.
    for f in shipped_scenarios() {
        assert!(
            read(&f).starts_with("# yaml-language-server: $schema=../schemas/scenario.schema.json"),
            "{}",
            f.display()
        );
    }
}

/// What the permissive API saw: (method, path, authorization, body).
type Seen = Arc<Mutex<Vec<(String, String, String, Vec<u8>)>>>;

/// An API that answers anything: JSON with a token, an id and results; 201 for POST.
fn any_api() -> (std::net::SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let log = log.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                log.lock().unwrap().push((
                    method.to_string(),
                    uri.path().to_string(),
                    auth,
                    body.to_vec(),
                ));
                let status = if method == Method::POST {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                (
                status,
                [("content-type", "application/json")],
                r#"{"token": "tok-123", "id": 42, "results": [{"id": 1}, {"id": 2}, {"id": 3}]}"#,
            )
                .into_response()
            }
        },
    );
    (serve(app), seen)
}

/// A copy of a shipped scenario next to its data files, with every wait set to zero.
fn without_waits(dir: &Path, name: &str) -> PathBuf {
    let text = read(&root().join("scenarios").join(name));
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    for (_, user) in doc["users"].as_mapping_mut().unwrap() {
        user["wait_time"] = serde_yaml::from_str("{constant: 0}").unwrap();
    }
    let copy = dir.join("scenarios");
    std::fs::create_dir_all(copy.join("data")).unwrap();
    for entry in std::fs::read_dir(root().join("scenarios/data")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, copy.join("data").join(p.file_name().unwrap())).unwrap();
    }
    write(&copy, name, &serde_yaml::to_string(&doc).unwrap())
}

#[test]
fn the_kibray_example_runs_every_task() {
    let (addr, seen) = any_api();
    let dir = tempfile::tempdir().unwrap();
    let scenario = without_waits(dir.path(), "kibray.yaml");
    let host = format!("http://{addr}");
    let run = locusta(
        dir.path(),
        &[
            "-f",
            scenario.to_str().unwrap(),
            "-H",
            &host,
            "-u",
            "13",
            "-r",
            "13",
            "-t",
            "2",
            "--csv",
            "k",
            "--only-summary",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(run.stderr.contains("All users spawned: {\"APIOnlyUser\": 2, \"AdminUser\": 1, \"KibrayUser\": 10} (13 total users)"), "{}", run.output());
    let stats = csv_rows(&dir.path().join("k_stats.csv"));
    let names: Vec<&str> = stats[1..].iter().map(|r| r[1].as_str()).collect();
    for task in [
        "Login",
        "View project detail",
        "Create task",
        "Export data",
        "Bulk operations",
        "Sync data",
        "Upload photo",
    ] {
        assert!(names.contains(&task), "{task} did not run: {names:?}");
    }
    let seen = seen.lock().unwrap();
    // Every call after login carries the captured token; logins use the feeder's accounts, each once.
    assert!(
        seen.iter()
            .filter(|(_, p, _, _)| p != "/api/v1/auth/login/")
            .all(|(_, _, auth, _)| auth == "Bearer tok-123")
    );
    let logins: Vec<String> = seen
        .iter()
        .filter(|(_, p, _, _)| p == "/api/v1/auth/login/")
        .map(|(_, _, _, b)| {
            serde_json::from_slice::<serde_json::Value>(b).unwrap()["username"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let users: std::collections::HashSet<&String> = logins
        .iter()
        .filter(|u| u.starts_with("loadtest"))
        .collect();
    assert_eq!(
        users.len(),
        12,
        "12 regular and API users, each its own account: {logins:?}"
    );
    let upload = seen
        .iter()
        .find(|(_, p, _, _)| p == "/api/v1/photos/")
        .expect("an upload");
    let body = String::from_utf8_lossy(&upload.3);
    assert!(
        body.contains("filename=\"site-photo.png\"")
            && body.contains("Content-Type: image/png")
            && body.contains("Site photo "),
        "{body}"
    );
    let task = seen
        .iter()
        .find(|(m, p, _, _)| m == "POST" && p == "/api/v1/tasks/")
        .expect("a created task");
    let json: serde_json::Value = serde_json::from_slice(&task.3).unwrap();
    assert!(
        ["1", "2", "3"].contains(&json["project"].as_str().unwrap()),
        "a project id from the list: {json}"
    );
}

#[test]
fn the_medication_example_runs_clean() {
    let (addr, seen) = any_api();
    let dir = tempfile::tempdir().unwrap();
    let scenario = without_waits(dir.path(), "medication.yaml");
    let host = format!("http://{addr}");
    let run = locusta(
        dir.path(),
        &[
            "-f",
            scenario.to_str().unwrap(),
            "-H",
            &host,
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "2",
            "--csv",
            "m",
            "--only-summary",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.output());
    let stats = csv_rows(&dir.path().join("m_stats.csv"));
    let count = |name: &str| {
        stats_row(
            &stats,
            if name.contains("create") {
                "POST"
            } else {
                "GET"
            },
            name,
        )[2]
        .parse::<u64>()
        .unwrap()
    };
    let (list, reminders) = (count("/medications/get_all"), count("/reminders"));
    assert!(
        list > reminders,
        "the mix keeps the guide's proportions: {list} lists, {reminders} reminders"
    );
    let seen = seen.lock().unwrap();
    let log = seen
        .iter()
        .find(|(_, p, _, _)| p == "/logs/create")
        .expect("an intake log");
    let json: serde_json::Value = serde_json::from_slice(&log.3).unwrap();
    assert_eq!(
        json["medication_id"], "42",
        "the id captured at start: {json}"
    );
    assert!(json["taken_at"].as_str().unwrap().ends_with('Z'));
}
