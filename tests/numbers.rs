//! No number makes locusta panic: every numeric option (command line and `LOCUST_*`
//! variables), every numeric scenario field and every accepted extreme gives either a clean
//! one-line error or a run that starts and stops by itself.
//!
//! The property tests feed the parsers in-process (thousands of cases in a second or two);
//! the last test runs the real binary with the extremes that are accepted, so what the parser
//! lets through is also what the engine can hold.

mod common;

use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};

use locusta::cli::{self, Command, Environment, Role, Settings};
use locusta::limits::{self, MAX_DURATION, MAX_SPAWN_RATE, MAX_USERS, MIN_SPAWN_RATE};
use locusta::scenario::{self, Step, WaitTime};
use proptest::prelude::*;

/// Values people type by mistake or on purpose, and the edges of every range.
const EXTREMES: &[&str] = &[
    "0",
    "-0",
    "-1",
    "1",
    "0.5",
    "1e-300",
    "1e300",
    "1e400",
    "-1e300",
    "inf",
    "-inf",
    "nan",
    "NaN",
    "1e-6",
    "1e-7",
    "1e7",
    "10000000",
    "10000001",
    "315360000",
    "315360001",
    "87600h",
    "87601h",
    "5124095576030431h1m",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
    "",
    " ",
    "1.5m",
];

/// An extreme, or any float, integer or whole number, written as a person would.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(EXTREMES).prop_map(str::to_string),
        1 => any::<f64>().prop_map(|x| x.to_string()),
        1 => any::<f64>().prop_map(|x| format!("{x:e}")),
        1 => any::<i64>().prop_map(|x| x.to_string()),
        1 => any::<u64>().prop_map(|x| x.to_string()),
        1 => (0u64..100_000).prop_map(|x| format!("{x}s")),
    ]
}

/// Every option that takes a number, with how the number goes in.
const NUMERIC_OPTIONS: &[&str] = &[
    "-u {}",
    "-r {}",
    "-t {}",
    "-i {}",
    "-s {}",
    "--stages {}:5",
    "--stages 1s:{}",
    "--stages 1s:5:{}",
    "--stages 10s:{},10s:{}",
    "--check-rps {}",
    "--check-fail-ratio {}",
    "--check-avg-response-time {}",
    "--threshold p95<{}ms",
    "--threshold p{}<5",
    "--threshold error_rate<{}%",
    "--threshold rps>={}",
    "--exit-code-on-error {}",
    "--processes {}",
    "--master --expect-workers {}",
    "--master --expect-workers-max-wait {}",
    "--master --master-bind-port {}",
    "--worker --master-timeout {}",
    "--worker --master-port {}",
    "-P {}",
    "--web-port {}",
    "--autostart --autoquit {}",
];

fn no_config(dir: &Path) -> Environment<'static> {
    Environment {
        var: &|_| None,
        home: None,
        cwd: dir.to_path_buf(),
    }
}

fn parse_line(line: &str, env: &Environment<'_>) -> Result<Command, cli::UsageError> {
    let mut args: Vec<OsString> = vec!["locusta".into()];
    // `{}` may be empty or a space: split on the template's spaces only.
    args.extend(line.split('\u{1}').map(OsString::from));
    cli::parse(args, env)
}

/// What the engine will do with the settings: spawn in batches, wait for deadlines. All of it
/// must be arithmetic that cannot overflow.
fn assert_usable(s: &Settings) {
    assert!(s.users.is_none_or(|u| u <= MAX_USERS), "{:?}", s.users);
    assert!(
        (MIN_SPAWN_RATE..=MAX_SPAWN_RATE).contains(&s.spawn_rate),
        "{}",
        s.spawn_rate
    );
    let run_time = s.run_time.unwrap_or_default();
    assert!(run_time <= MAX_DURATION && s.stop_timeout <= MAX_DURATION);
    let now = Instant::now();
    assert!(now.checked_add(run_time + s.stop_timeout).is_some());
    for stage in s.stages.iter().flatten() {
        assert!(stage.users <= MAX_USERS && stage.duration <= MAX_DURATION);
        let (batch, interval) = limits::batches(stage.spawn_rate);
        assert!(batch >= 1 && interval <= MAX_DURATION, "{stage:?}");
    }
    for t in &s.thresholds {
        assert!(t.limit.is_finite(), "{t:?}");
    }
    match &s.role {
        Role::Worker(w) => assert!(w.master_timeout <= MAX_DURATION),
        Role::Master(m) => assert!(
            now.checked_add(m.expect_workers_max_wait.unwrap_or_default())
                .is_some()
        ),
        Role::Standalone => {}
    }
}

fn assert_one_line(e: &str) {
    assert!(!e.is_empty() && !e.contains('\n'), "not one line: {e:?}");
    assert!(e.starts_with("locusta: error: "), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Every numeric option, given any number: a clean error or settings the engine can use.
    #[test]
    fn every_numeric_option_takes_any_number(
        option in proptest::sample::select(NUMERIC_OPTIONS),
        value in number(),
        second in number(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let env = no_config(dir.path());
        let mut n = 0;
        let line = option
            .split(' ')
            .map(|part| {
                if part.contains("{}") {
                    n += 1;
                    let v = if n == 1 { &value } else { &second };
                    part.replacen("{}", v, 1)
                } else {
                    part.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\u{1}");
        match parse_line(&line, &env) {
            Ok(Command::Run(settings)) => assert_usable(&settings),
            Ok(other) => prop_assert!(false, "{line:?} gave {other:?}"),
            Err(e) => assert_one_line(&e.to_string()),
        }
    }

    /// The same numbers through `LOCUST_*` variables, which read them with the same rules.
    #[test]
    fn environment_variables_take_any_number(
        name in proptest::sample::select(&["LOCUST_USERS", "LOCUST_SPAWN_RATE", "LOCUST_RUN_TIME", "LOCUST_STOP_TIMEOUT", "LOCUST_ITERATIONS", "LOCUST_STAGES", "LOCUST_EXIT_CODE_ON_ERROR", "LOCUST_PROCESSES", "LOCUST_CHECK_RPS", "LOCUST_WEB_PORT", "LOCUST_AUTOQUIT"][..]),
        value in number(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let lookup = move |k: &str| (k == name).then(|| value.clone());
        let env = Environment { var: &lookup, home: None, cwd: dir.path().to_path_buf() };
        match cli::parse(vec!["locusta".into()], &env) {
            Ok(Command::Run(settings)) => assert_usable(&settings),
            Ok(other) => prop_assert!(false, "{name} gave {other:?}"),
            Err(e) => assert_one_line(&e.to_string()),
        }
    }

    /// The numbers of the subcommands: the demo target's and `compare`'s limits.
    #[test]
    fn subcommand_options_take_any_number(
        (command, option) in proptest::sample::select(&[
            ("demo", "--port"), ("demo", "--latency-scale"), ("demo", "--seed"), ("demo", "--delay"),
            ("compare", "--max-regression"), ("compare", "--max-regression-p95"),
            ("compare", "--max-failure-rate-increase"), ("compare", "--min-requests"),
        ][..]),
        value in number(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let value = if option == "--delay" { format!("/x={value}") } else { value };
        let mut args: Vec<OsString> = ["locusta", command].iter().map(OsString::from).collect();
        if command == "compare" {
            args.extend(["a", "b"].map(OsString::from));
        }
        args.extend([option, value.as_str()].map(OsString::from));
        match cli::parse(args, &no_config(dir.path())) {
            Ok(Command::Demo(d)) => {
                prop_assert!(d.latency_scale.is_finite() && d.latency_scale >= 0.0);
                for (_, delay) in &d.delays {
                    prop_assert!(*delay <= MAX_DURATION);
                }
            }
            Ok(Command::Compare(c)) => {
                for limit in [c.max_regression, c.p95, c.failure_rate].into_iter().flatten() {
                    prop_assert!(limit.is_finite() && limit >= 0.0);
                }
            }
            Ok(other) => prop_assert!(false, "{other:?}"),
            Err(e) => assert_one_line(&e.to_string()),
        }
    }
}

/// Every numeric scenario field, with `{}` where the number goes.
const SCENARIO_FIELDS: &[&str] = &[
    "users:\n  A:\n    weight: {}\n    tasks: [{get: /}]\n",
    "users:\n  A:\n    fixed_count: {}\n    tasks: [{get: /}]\n",
    "users:\n  A:\n    wait_time: {between: [{}, {}]}\n    tasks: [{get: /}]\n",
    "users:\n  A:\n    wait_time: {constant: {}}\n    tasks: [{get: /}]\n",
    "users:\n  A:\n    wait_time: {constant_pacing: {}}\n    tasks: [{get: /}]\n",
    "users:\n  A:\n    wait_time: {constant_throughput: {}}\n    tasks: [{get: /}]\n",
    "defaults: {timeout: {}}\nusers:\n  A:\n    tasks: [{get: /}]\n",
    "users:\n  A:\n    timeout: {}\n    tasks: [{get: /}]\n",
    "users:\n  A:\n    tasks: [{get: /, timeout: {}}]\n",
    "users:\n  A:\n    tasks: [{get: /, weight: {}}]\n",
    "users:\n  A:\n    tasks: [{get: /, repeat: {}}]\n",
    "users:\n  A:\n    tasks: [{get: /, repeat: [{}, {}]}]\n",
    "users:\n  A:\n    tasks: [{flow: [{get: /}, {wait: {}}]}]\n",
    "users:\n  A:\n    tasks: [{flow: [{get: /}, {wait: {between: [{}, {}]}}]}]\n",
    "users:\n  A:\n    tasks: [{get: /, expect: {max_time: {}}}]\n",
    "users:\n  A:\n    tasks: [{get: /, expect: {status: [{}]}}]\n",
    "users:\n  A:\n    tasks: [{get: /, expect: {json: {\"$.n\": {}}}}]\n",
    "users:\n  A:\n    tasks: [{get: /, capture: {x: {regex: 'a(b)', group: {}}}}]\n",
    "users:\n  A:\n    tasks: [{get: \"/{{ random_int(1, {}) }}\"}]\n",
    "users:\n  A:\n    tasks: [{get: /}]\nstages:\n  - {duration: {}, users: 5}\n",
    "users:\n  A:\n    tasks: [{get: /}]\nstages:\n  - {duration: 10s, users: {}}\n",
    "users:\n  A:\n    tasks: [{get: /}]\nstages:\n  - {duration: 10s, users: 5, spawn_rate: {}}\n",
    "users:\n  A:\n    tasks: [{get: /}]\nthresholds:\n  all: [\"p95 < {}ms\"]\n",
    "users:\n  A:\n    tasks: [{get: /}]\nthresholds:\n  all: [{check: p95 < 5ms, abort_after: {}}]\n",
];

/// YAML's own spellings of the extremes, besides the plain numbers.
fn yaml_number() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => number(),
        1 => proptest::sample::select(&[".inf", "-.inf", ".nan", "~", "true", "'5'", "1_000", "0x10", "1m 30s", "100 years", "2000000000 days"][..]).prop_map(str::to_string),
    ]
}

fn durations(w: &WaitTime) -> Vec<Duration> {
    match *w {
        WaitTime::Constant(d) | WaitTime::ConstantPacing(d) => vec![d],
        WaitTime::Between(a, b) => vec![a, b],
    }
}

fn assert_steps_usable(steps: &[Step]) {
    for step in steps {
        match step {
            Step::Request(r) => assert!(r.timeout <= MAX_DURATION, "{:?}", r.timeout),
            Step::Wait(w) => assert!(durations(w).iter().all(|d| *d <= MAX_DURATION)),
            Step::Flow(s) => assert_steps_usable(s),
            Step::OneOf(c) => c
                .iter()
                .for_each(|c| assert_steps_usable(std::slice::from_ref(&c.step))),
            Step::Repeat { min, max, step } => {
                assert!(min <= max);
                assert_steps_usable(std::slice::from_ref(step));
            }
            Step::Use(_) => {}
            Step::Ws(w) => assert!(w.target.connect_timeout <= MAX_DURATION),
            Step::Sse(e) => assert!(e.target.idle_timeout <= MAX_DURATION),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Every numeric scenario field, given any number: errors with file, line and field, or
    /// a scenario whose waits, timeouts and stages the engine can hold.
    #[test]
    fn every_numeric_scenario_field_takes_any_number(
        template in proptest::sample::select(SCENARIO_FIELDS),
        value in yaml_number(),
        second in yaml_number(),
    ) {
        let text = template.replacen("{}", &value, 1).replacen("{}", &second, 1);
        let text = format!("host: http://127.0.0.1:1\n{text}");
        match scenario::parse("s.yaml", &text, Path::new("s.yaml"), &|_| None) {
            Ok(s) => {
                for u in &s.user_types {
                    prop_assert!(u.weight.is_finite() && u.weight >= 0.0);
                    prop_assert!(u.fixed_count <= MAX_USERS);
                    prop_assert!(durations(&u.wait_time).iter().all(|d| *d <= MAX_DURATION));
                    assert_steps_usable(&u.on_start);
                    for c in &u.tasks {
                        assert_steps_usable(std::slice::from_ref(&c.step));
                    }
                }
                for stage in &s.stages {
                    prop_assert!(stage.users <= MAX_USERS && stage.duration <= MAX_DURATION);
                    prop_assert!(limits::batches(stage.spawn_rate).1 <= MAX_DURATION);
                }
                for t in &s.thresholds {
                    prop_assert!(t.limit.is_finite());
                }
            }
            Err(e) => {
                for d in &e.0 {
                    let line = d.to_string();
                    prop_assert!(line.starts_with("s.yaml"), "{line}");
                    prop_assert!(!line.contains('\n'), "{line:?}\n{text}");
                }
            }
        }
    }
}

/// The accepted extremes, run for real: each starts, stops on `-t` by itself, and exits with
/// 0 or 1 (a request may fail), never a panic. They run side by side; each is one user
/// waiting a second between requests to a local server.
#[test]
fn accepted_extremes_run_and_stop_by_themselves() {
    let addr = common::demo(0.0);
    let dir = tempfile::tempdir().unwrap();
    let scenario = |name: &str, wait: &str, extra: &str| {
        common::write(
            dir.path(),
            name,
            &format!(
                "host: http://{addr}\nusers:\n  A:\n    wait_time: {wait}\n    tasks:\n      - get: /api/health/\n{extra}"
            ),
        )
        .display()
        .to_string()
    };
    let plain = scenario("plain.yaml", "{constant: 1}", "");
    let between = scenario("between.yaml", "{between: [0, 315360000]}", "");
    let throughput = scenario("throughput.yaml", "{constant_throughput: 1e-8}", "");
    let timeout = scenario("timeout.yaml", "{constant: 1}\n    timeout: 315360000", "");
    let abort = scenario(
        "abort.yaml",
        "{constant: 1}",
        "thresholds:\n  all: [{check: p95 < 99999999ms, abort_after: 87600h}]\n",
    );
    let cases: [(&str, Vec<&str>); 9] = [
        (
            "slowest spawn rate",
            vec!["-f", &plain, "-u", "3", "-r", "1e-6"],
        ),
        (
            "fastest spawn rate",
            vec!["-f", &plain, "-u", "3", "-r", "1e7"],
        ),
        ("no users", vec!["-f", &plain, "-u", "0"]),
        ("longest stop timeout", vec!["-f", &plain, "-s", "87600h"]),
        (
            "slowest stage",
            vec!["-f", &plain, "--stages", "1s:3:1e-6,1s:0"],
        ),
        ("widest between", vec!["-f", &between, "-u", "2", "-r", "2"]),
        (
            "slowest throughput",
            vec!["-f", &throughput, "-u", "2", "-r", "2"],
        ),
        ("longest timeout", vec!["-f", &timeout]),
        ("longest abort_after", vec!["-f", &abort]),
    ];
    let children: Vec<_> = cases
        .iter()
        .map(|(label, args)| {
            let mut cmd = common::command(dir.path());
            cmd.args(args)
                .args(["--headless", "-t", "2s", "--only-summary"]);
            (label, Instant::now(), cmd.spawn().expect("spawn locusta"))
        })
        .collect();
    for (label, started, child) in children {
        // Generous: a 2 s run on a loaded 2-core machine; a hang fails here, not the suite.
        let run = common::finish(child, started, Duration::from_secs(60));
        assert!(
            (run.code == 0 || run.code == 1) && !run.stderr.contains("panicked"),
            "{label}: {}",
            run.output()
        );
    }
}
