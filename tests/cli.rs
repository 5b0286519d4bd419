//! The command line through the real binary: errors, precedence, listing commands.

mod common;

use common::*;

/// A bad input: exit code 2, one `locusta: error:` line (per problem), never a panic.
fn assert_usage_error(run: &Run, expected: &str) {
    assert_eq!(run.code, 2, "{}", run.output());
    assert!(!run.stderr.contains("panicked"), "{}", run.output());
    let first = run.stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("locusta: error: "), "{}", run.output());
    assert!(
        run.stderr.contains(expected),
        "expected {expected:?} in:\n{}",
        run.output()
    );
}

const OK: &str = "host: http://127.0.0.1:9\nusers:\n  A:\n    tasks: [{get: /}]\n";

#[test]
fn bad_scenario_files_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "broken.yaml",
        "users:\n  PortfolioUser:\n    weight: [\n",
    );
    assert_usage_error(
        &locusta_line(d, "-f broken.yaml -t 1s"),
        "broken.yaml:4:1: did not find expected node content, while parsing a flow node",
    );
    write(
        d,
        "syntax.yaml",
        "users:\n  A:\n    tasks: [{get: /}\n  B: x\n",
    );
    assert_usage_error(
        &locusta_line(d, "-f syntax.yaml"),
        "syntax.yaml:4:3: did not find expected ',' or ']', while parsing a flow sequence at line 3 column 12",
    );
    write(
        d,
        "typo.yaml",
        "users:\n  A:\n    wieght: 3\n    tasks: [{get: /}]\n",
    );
    assert_usage_error(
        &locusta_line(d, "-f typo.yaml -t 1s"),
        "typo.yaml:3:5: unknown key `wieght` in user `A`, did you mean `weight`?",
    );
    write(
        d,
        "type.yaml",
        "users:\n  A:\n    weight: lots\n    tasks: [{get: /}]\n",
    );
    assert_usage_error(
        &locusta_line(d, "-f type.yaml"),
        "type.yaml:3:5: users.A.weight: expected a number, found the text \"lots\"",
    );
    write(
        d,
        "var.yaml",
        "host: http://x.org\nusers:\n  A:\n    tasks:\n      - get: /a/{{ id }}/\n",
    );
    assert_usage_error(
        &locusta_line(d, "-f var.yaml"),
        "var.yaml:5:9: users.A.tasks[0]: `{{ id }}` is never captured by user `A`",
    );
    write(d, "empty.yaml", "");
    assert_usage_error(&locusta_line(d, "-f empty.yaml"), "empty.yaml");
    assert_usage_error(
        &locusta_line(d, "-f nope.yaml -t 1s"),
        "nope.yaml: no such file",
    );
    assert_usage_error(&locusta_line(d, "-t 1s"), "locustfile.yaml: no such file");
    write(d, "locustfile.py", "from locust import HttpUser\n");
    assert_usage_error(
        &locusta_line(d, "-f locustfile.py"),
        "this is a Python locustfile; locusta runs YAML scenarios",
    );
}

#[test]
fn every_problem_in_a_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "users:\n  A:\n    tasks:\n      - get: x\n      - {use: Nobody}\n      - {get: /, post: /}\n";
    write(dir.path(), "many.yaml", yaml);
    let run = locusta_line(dir.path(), "-f many.yaml");
    assert_eq!(run.code, 2);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.output());
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("locusta: error: many.yaml:"))
    );
}

#[test]
fn bad_arguments_read_like_locusts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "ok.yaml", OK);
    assert_usage_error(
        &locusta_line(d, "-f ok.yaml --headlesss"),
        "locusta: error: unrecognized arguments: --headlesss (did you mean '--headless'?)",
    );
    assert_usage_error(
        &locusta_line(d, "-f ok.yaml -u abc"),
        "argument -u/--users: invalid int value: 'abc'",
    );
    assert_usage_error(
        &locusta_line(d, "-f ok.yaml -r 0"),
        "argument -r/--spawn-rate: must be > 0",
    );
    assert_usage_error(
        &locusta_line(d, "-f ok.yaml --csv-full-history"),
        "'--csv-full-history' requires '--csv'.",
    );
    assert_usage_error(
        &locusta_line(d, "-f ok.yaml -H localhost:8000"),
        "argument -H/--host:",
    );
    assert_usage_error(
        &locusta_line(d, "-f ok.yaml Nobody A"),
        "Unknown User(s): Nobody",
    );
    assert_usage_error(&locusta_line(d, "demo --port http"), "argument --port");
    write(d, "nohost.yaml", "users:\n  A:\n    tasks: [{get: /}]\n");
    assert_usage_error(
        &locusta_line(d, "-f nohost.yaml -t 1"),
        "You must specify the base host",
    );
    std::fs::write(d.join("file"), "").unwrap();
    assert_usage_error(
        &locusta_line(d, "-f ok.yaml --csv file/sub/x -t 1"),
        "cannot write the --csv files",
    );
}

#[test]
fn settings_come_from_env_and_config_files_in_locusts_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "ok.yaml", OK);
    // Nothing listens on port 9, so requests fail fast; only the ramp log line matters here.
    write(
        d,
        "locust.conf",
        "locustfile = ok.yaml\nusers = 3\nspawn-rate = 3\nrun-time = 1\nonly-summary = true\n",
    );
    let run = locusta_line(d, "");
    assert!(
        run.stderr
            .contains("Ramping to 3 users at a rate of 3.00 per second"),
        "{}",
        run.output()
    );
    write(d, "pyproject.toml", "[tool.locust]\nusers = 4\n");
    let run = locusta_line(d, "");
    assert!(
        run.stderr.contains("Ramping to 4 users"),
        "pyproject.toml beats locust.conf: {}",
        run.output()
    );
    write(d, "custom.conf", "users = 5\n");
    let run = locusta_line(d, "--config custom.conf");
    assert!(
        run.stderr.contains("Ramping to 5 users"),
        "--config beats pyproject.toml: {}",
        run.output()
    );
    let run = run_cmd(
        command(d)
            .args(["--config", "custom.conf"])
            .env("LOCUST_USERS", "6"),
    );
    assert!(
        run.stderr.contains("Ramping to 6 users"),
        "env beats --config: {}",
        run.output()
    );
    let run = run_cmd(
        command(d)
            .args(["--config", "custom.conf", "-u", "2"])
            .env("LOCUST_USERS", "6"),
    );
    assert!(
        run.stderr.contains("Ramping to 2 users"),
        "the command line beats all: {}",
        run.output()
    );
    let run = run_cmd(command(d).env("LOCUST_ONLY_SUMMARY", "maybe"));
    assert_usage_error(&run, "Unexpected value for LOCUST_ONLY_SUMMARY: 'maybe'");
    write(d, "locust.conf", "userz = 3\n");
    assert_usage_error(
        &locusta_line(d, ""),
        "unrecognized arguments: --userz=3 (from locust.conf:1)",
    );
}

#[test]
fn list_and_task_ratio_print_what_locust_prints() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/cistrade.yaml");
    let scenario = scenario.to_str().unwrap();
    let run = locusta_line(dir.path(), &format!("-f {scenario} --list"));
    assert_eq!(run.code, 0);
    assert_eq!(
        run.stdout,
        "Available Users:\n    PortfolioUser\n    ReferenceDataUser\n    UDFUser\n    DashboardUser\n    MixedUser\n"
    );
    let run = locusta_line(dir.path(), &format!("-f {scenario} --show-task-ratio"));
    assert_eq!(run.code, 0, "{}", run.output());
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[1], " Task ratio per User class");
    assert_eq!(lines[3].trim_end(), " 40.0       PortfolioUser");
    // PortfolioUser's tasks weigh 28 in all: the journey 4, the list 10; a journey's steps
    // are listed below it in equal shares, as Locust lists a SequentialTaskSet's tasks.
    assert_eq!(lines[4].trim_end(), "   14.3       Portfolio journey");
    assert_eq!(lines[5].trim_end(), "     3.6        GET Portfolio List");
    assert_eq!(lines[9].trim_end(), "   35.7       Portfolio List");
    assert!(run.stdout.contains("\n Total task ratio\n"));
    let run = locusta_line(
        dir.path(),
        &format!("-f {scenario} --show-task-ratio-json MixedUser"),
    );
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let mixed = &json["per_class"]["MixedUser"];
    assert_eq!(mixed["ratio"], 1.0);
    assert_eq!(mixed["tasks"]["PortfolioUser"]["ratio"], 0.5);
    let list = mixed["tasks"]["PortfolioUser"]["tasks"]["Portfolio List"]["ratio"]
        .as_f64()
        .unwrap();
    assert!((list - 0.5 * 10.0 / 28.0).abs() < 1e-12, "{list}");
}

#[test]
fn help_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let run = locusta_line(dir.path(), "--help");
    assert_eq!(run.code, 0);
    for flag in [
        "--locustfile",
        "--host",
        "--users",
        "--spawn-rate",
        "--run-time",
        "--csv",
        "--tags",
        "locusta demo",
    ] {
        assert!(run.stdout.contains(flag), "--help lacks {flag}");
    }
    let run = locusta_line(dir.path(), "-V");
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, concat!("locusta ", env!("CARGO_PKG_VERSION"), "\n"))
    );
}

#[cfg(unix)]
#[test]
fn closed_output_pipes_are_no_reason_to_panic() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ok.yaml", OK);
    // `locusta --list | head -0`: stdout is gone.
    let run = run_cmd(
        command(dir.path())
            .args(["-f", "ok.yaml", "--list"])
            .stdout(closed_pipe()),
    );
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(!run.stderr.contains("panicked"));
    // A run whose stderr is gone (a killed `tee`) still ends normally and writes its files.
    let run = run_cmd(
        command(dir.path())
            .args(["-f", "ok.yaml", "-u", "1", "-t", "1", "--csv", "x"])
            .stderr(closed_pipe()),
    );
    assert_eq!(
        run.code, 1,
        "requests to port 9 fail, so exit code 1; a panic would be 101"
    );
    assert!(read(&dir.path().join("x_stats.csv")).contains("Aggregated"));
}
