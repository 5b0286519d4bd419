//! The command line, parsed as Locust parses it.

use super::*;

fn run(args: &[&str], vars: &[(&str, &str)], dir: &Path) -> Result<Settings, UsageError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |n: &str| vars.get(n).cloned();
    let env = Environment {
        var: &lookup,
        home: Some(dir.join("home")),
        cwd: dir.to_path_buf(),
    };
    let argv: Vec<OsString> = std::iter::once("locusta")
        .chain(args.iter().copied())
        .map(OsString::from)
        .collect();
    match parse(argv, &env)? {
        Command::Run(s) => Ok(*s),
        other => panic!("expected a run, got {other:?}"),
    }
}

#[test]
fn defaults_are_locusts() {
    let dir = tempfile::tempdir().unwrap();
    let s = run(&[], &[], dir.path()).unwrap();
    assert_eq!(
        (s.users, s.spawn_rate, s.run_time, s.stop_timeout),
        (None, 1.0, None, Duration::ZERO)
    );
    assert_eq!(s.exit_code_on_error, 1);
    assert_eq!(s.scenario, PathBuf::from("locustfile.yaml"));
    let s = run(&["-t", "0", "-u", "5", "--run-time=1h30m"], &[], dir.path()).unwrap();
    assert_eq!(s.run_time, Some(Duration::from_secs(5400)));
}

#[test]
fn bad_values_read_like_argparse() {
    let dir = tempfile::tempdir().unwrap();
    let e = |args: &[&str]| run(args, &[], dir.path()).unwrap_err().to_string();
    assert_eq!(
        e(&["-u", "abc"]),
        "locusta: error: argument -u/--users: invalid int value: 'abc'"
    );
    assert_eq!(
        e(&["-r", "0"]),
        "locusta: error: argument -r/--spawn-rate: must be > 0"
    );
    assert_eq!(
        e(&["-t", "5x"]),
        "locusta: error: argument -t/--run-time: Invalid time span format. Valid formats: 20, 20s, 3m, 2h, 1h20m, 3h30m10s, etc."
    );
    assert_eq!(
        e(&["--headlesss"]),
        "locusta: error: unrecognized arguments: --headlesss (did you mean '--headless'?)"
    );
    assert_eq!(
        e(&["--csv-full-history"]),
        "locusta: error: '--csv-full-history' requires '--csv'."
    );
    assert_eq!(
        e(&["--csv-precise"]),
        "locusta: error: '--csv-precise' requires '--csv'."
    );
    // The ranges of src/limits.rs, in the option's words.
    assert_eq!(
        e(&["-r", "1e-300"]),
        "locusta: error: argument -r/--spawn-rate: must be from 1e-6 to 1e7 users per second, got 1e-300"
    );
    assert_eq!(
        e(&["-u", "10000001"]),
        "locusta: error: argument -u/--users: must be at most 10000000 users, got 10000001"
    );
    assert_eq!(
        e(&["--processes", "5000"]),
        "locusta: error: argument --processes: at most 1024 processes, got 5000"
    );
    assert_eq!(
        e(&["--check-rps", "1e400"]),
        "locusta: error: argument --check-rps: '1e400' is too large a number"
    );
}

#[test]
fn csv_precise_from_the_command_line_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let s = run(&["--csv", "x"], &[], dir.path()).unwrap();
    assert!(
        !s.csv_precise,
        "off by default: a drop-in run writes Locust's types"
    );
    let s = run(&["--csv", "x", "--csv-precise"], &[], dir.path()).unwrap();
    assert!(s.csv_precise);
    let s = run(
        &["--csv", "x"],
        &[("LOCUST_CSV_PRECISE", "true")],
        dir.path(),
    )
    .unwrap();
    assert!(s.csv_precise);
}

#[test]
fn prefixes_and_aliases() {
    let dir = tempfile::tempdir().unwrap();
    let s = run(
        &["--headl", "--only-s", "--scenario", "x.yaml"],
        &[],
        dir.path(),
    )
    .unwrap();
    assert!(s.only_summary);
    assert_eq!(s.scenario, PathBuf::from("x.yaml"));
}

#[test]
fn precedence_follows_locusts_code() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir(p.join("home")).unwrap();
    std::fs::write(
        p.join("home/.locust.conf"),
        "users = 3\nhost = http://home\nrun-time = 7\n",
    )
    .unwrap();
    std::fs::write(
        p.join("locust.conf"),
        "users = 7\nheadless = true\nspawn-rate = 4\n",
    )
    .unwrap();
    // Observed in Locust: pyproject.toml wins over locust.conf.
    std::fs::write(p.join("pyproject.toml"), "[tool.locust]\nusers = 9\n").unwrap();
    let s = run(&[], &[], p).unwrap();
    assert_eq!(
        (s.users, s.spawn_rate, s.run_time),
        (Some(9), 4.0, Some(Duration::from_secs(7)))
    );
    assert_eq!(s.host.as_deref(), Some("http://home"));
    // --config beats pyproject.toml; the environment beats --config; the command line beats all.
    std::fs::write(p.join("custom.conf"), "users = 5\nhost = http://config\n").unwrap();
    let cfg = p.join("custom.conf");
    let cfg = cfg.to_str().unwrap();
    assert_eq!(run(&["--config", cfg], &[], p).unwrap().users, Some(5));
    let s = run(
        &["--config", cfg],
        &[("LOCUST_HOST", "http://env"), ("LOCUST_USERS", "6")],
        p,
    )
    .unwrap();
    assert_eq!((s.users, s.host.as_deref()), (Some(6), Some("http://env")));
    assert_eq!(
        run(&["--config", cfg, "-u", "2"], &[("LOCUST_USERS", "6")], p)
            .unwrap()
            .users,
        Some(2)
    );
}

#[test]
fn env_false_beats_config_true() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("locust.conf"), "only-summary = true\n").unwrap();
    assert!(run(&[], &[], dir.path()).unwrap().only_summary);
    assert!(
        !run(&[], &[("LOCUST_ONLY_SUMMARY", "false")], dir.path())
            .unwrap()
            .only_summary
    );
    let e = run(&[], &[("LOCUST_HEADLESS", "maybe")], dir.path())
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "locusta: error: Unexpected value for LOCUST_HEADLESS: 'maybe'. Expecting 'true', 'false', 'yes', 'no', 'on', 'off', '1' or '0'"
    );
}

#[test]
fn config_errors_name_their_source() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("locust.conf"), "# x\nunknown-key = 1\n").unwrap();
    let e = run(&[], &[], dir.path()).unwrap_err().to_string();
    assert!(
        e.starts_with("locusta: error: unrecognized arguments: --unknown-key=1 (from "),
        "{e}"
    );
    assert!(e.ends_with("locust.conf:2)"), "{e}");
    std::fs::write(dir.path().join("locust.conf"), "spawn_rate = 4\n").unwrap();
    assert!(
        run(&[], &[], dir.path()).is_err(),
        "underscores are not Locust's key names"
    );
    std::fs::write(dir.path().join("locust.conf"), "users = many\n").unwrap();
    let e = run(&[], &[], dir.path()).unwrap_err().to_string();
    assert!(
        e.starts_with("locusta: error: argument -u/--users: invalid int value: 'many' (from "),
        "{e}"
    );
    std::fs::remove_file(dir.path().join("locust.conf")).unwrap();
    let e = run(&["--config", "/nonexistent/x.conf"], &[], dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot read config file /nonexistent/x.conf"),
        "{e}"
    );
}

#[test]
fn user_types_from_the_line_or_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let s = run(
        &["-f", "s.yaml", "PortfolioUser", "-u", "200"],
        &[],
        dir.path(),
    )
    .unwrap();
    assert_eq!(s.user_types, ["PortfolioUser"]);
    let s = run(&[], &[("LOCUST_USER_CLASSES", "A B")], dir.path()).unwrap();
    assert_eq!(s.user_types, ["A", "B"]);
    let s = run(&["C"], &[("LOCUST_USER_CLASSES", "A B")], dir.path()).unwrap();
    assert_eq!(s.user_types, ["C"]);
    let s = run(&["-T", "a", "b", "-E", "c"], &[], dir.path()).unwrap();
    assert_eq!(
        (s.tags, s.exclude_tags),
        (
            vec!["a".to_string(), "b".to_string()],
            vec!["c".to_string()]
        )
    );
}

#[test]
fn the_environment_sets_what_locust_lets_it_set() {
    let keys = env_keys();
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    for k in [
        "locustfile",
        "host",
        "users",
        "spawn-rate",
        "run-time",
        "headless",
        "csv",
        "stop-timeout",
    ] {
        assert!(names.contains(&k), "{k} missing from {names:?}");
    }
    assert!(
        !names.contains(&"config") && !names.contains(&"help"),
        "{names:?}"
    );
    assert!(keys.contains(&("tags".to_string(), true)));
    assert!(keys.contains(&("users".to_string(), false)));
}

#[test]
fn subcommands_never_clash_with_a_run() {
    let env = Environment::process();
    let argv = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
    assert_eq!(
        parse(
            argv(&[
                "locusta",
                "demo",
                "--port",
                "9000",
                "--delay",
                "/portfolio/=100ms"
            ]),
            &env
        )
        .unwrap(),
        Command::Demo(DemoArgs {
            port: 9000,
            bind: "127.0.0.1".into(),
            latency_scale: 1.0,
            seed: 42,
            delays: vec![("/portfolio/".into(), Duration::from_millis(100))],
        })
    );
    assert_eq!(
        parse(argv(&["locusta", "demo", "--delay", "portfolio=1s"]), &env)
            .unwrap_err()
            .to_string(),
        "locusta: error: argument --delay: 'portfolio' is not a path (it starts with /)"
    );
    // Not in first position: a user type called "demo".
    let Command::Run(s) = parse(argv(&["locusta", "-f", "x.yaml", "demo"]), &env).unwrap() else {
        panic!()
    };
    assert_eq!(s.user_types, ["demo"]);
    assert_eq!(
        parse(argv(&["locusta", "-V"]), &env).unwrap(),
        Command::Print(version_text())
    );
}

#[test]
fn html_comes_from_the_command_line_environment_or_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = run(&["--html", "r_{u}.html"], &[], dir.path()).unwrap();
    assert_eq!(s.html.as_deref(), Some("r_{u}.html"));
    std::fs::write(dir.path().join("locust.conf"), "html = conf.html\n").unwrap();
    let s = run(&[], &[], dir.path()).unwrap();
    assert_eq!(s.html.as_deref(), Some("conf.html"));
    let s = run(&[], &[("LOCUST_HTML", "env.html")], dir.path()).unwrap();
    assert_eq!(s.html.as_deref(), Some("env.html"));
    let s = run(
        &["--html", "cli.html"],
        &[("LOCUST_HTML", "env.html")],
        dir.path(),
    )
    .unwrap();
    assert_eq!(s.html.as_deref(), Some("cli.html"));
}

#[test]
fn report_takes_a_folder_or_prefix_and_an_output() {
    let dir = tempfile::tempdir().unwrap();
    let env = Environment {
        var: &|_| None,
        home: Some(dir.path().join("home")),
        cwd: dir.path().to_path_buf(),
    };
    let parse_args = |args: &[&str]| parse(args.iter().map(OsString::from).collect(), &env);
    assert_eq!(
        parse_args(&["locusta", "report", "results", "-o", "r.html"]),
        Ok(Command::Report(ReportArgs {
            input: PathBuf::from("results"),
            output: Some(PathBuf::from("r.html")),
        }))
    );
    let e = parse_args(&["locusta", "report", "a", "b"]).unwrap_err();
    assert_eq!(e.to_string(), "locusta: error: unrecognized arguments: b");
}
