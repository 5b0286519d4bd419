use std::path::Path;
use std::time::Duration;

use super::*;
use crate::scenario::{Body, CaptureSource, Scenario, Stage, Step, WaitTime};

fn env(name: &str) -> Option<String> {
    (name == "API_TOKEN").then(|| "s3cret".to_string())
}

fn parse_in(dir: &Path, yaml: &str) -> Result<Scenario, ScenarioError> {
    crate::scenario::parse("s.yaml", yaml, &dir.join("s.yaml"), &env)
}

fn parse(yaml: &str) -> Result<Scenario, ScenarioError> {
    parse_in(Path::new("."), yaml)
}

fn errors(yaml: &str) -> Vec<String> {
    match parse(yaml) {
        Ok(_) => vec![],
        Err(e) => e.0.iter().map(|d| d.to_string()).collect(),
    }
}

fn task_step(s: &Scenario, user: usize, task: usize) -> &Step {
    &s.user_types[user].tasks[task].step
}

#[test]
fn semantic_errors_are_all_reported_with_positions() {
    let yaml = "\
host: localhost:8000
users:
  A:
    tasks:
      - get: /a
        post: /b
      - use: Portfolio
      - flow:
          - get: x
            weight: 2
      - capture: {t: {cookie: c}}
";
    let e = errors(yaml);
    assert!(
        e.iter()
            .any(|m| m.starts_with("s.yaml:1:1: host: `localhost:8000` is not an http")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("s.yaml:5:9: users.A.tasks[0]: `get` and `post` given")),
        "{e:?}"
    );
    assert!(
        e.iter().any(|m| m
            .starts_with("s.yaml:7:9: users.A.tasks[1].use: no user type is named `Portfolio`")),
        "{e:?}"
    );
    assert!(
        !e.iter().any(|m| m.contains("did you mean")),
        "nothing close to suggest: {e:?}"
    );
    assert!(
        e.iter().any(|m| m.starts_with(
            "s.yaml:9:13: users.A.tasks[2].flow[0].get: the URL `x` must start with `/`"
        )),
        "{e:?}"
    );
    assert!(
        e.iter().any(|m| m.starts_with(
            "s.yaml:10:13: users.A.tasks[2].flow[0].weight: `weight` only applies to tasks"
        )),
        "{e:?}"
    );
    assert!(
        e.iter().any(|m| m
            .starts_with("s.yaml:11:9: users.A.tasks[3].capture: `capture` belongs to a request")),
        "{e:?}"
    );
    assert_eq!(e.len(), 6, "{e:?}");
}

#[test]
fn uncaptured_variables_are_caught_before_the_run() {
    let yaml = "\
users:
  A:
    on_start:
      - get: /login/
        capture: {csrf: {cookie: csrftoken}}
    tasks:
      - post: /x
        form: {t: '{{ csrf }}', u: '{{ user_id }}'}
  Mixed:
    tasks:
      - use: A
";
    let e = errors(yaml);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("s.yaml:7:9: users.A.tasks[0]: `{{ csrf }}` is never captured by user `Mixed`, which runs this step through `use`"),
        "{}",
        e[0]
    );
}

#[test]
fn use_cycles_are_rejected() {
    let e = errors("users:\n  A:\n    tasks: [{use: B}]\n  B:\n    tasks: [{use: A}]\n");
    assert!(
        e[0].contains("goes round in a circle: A -> B -> A"),
        "{e:?}"
    );
}

#[test]
fn suggestions_cover_typos_and_prefixes() {
    let names = ["PortfolioUser", "ReferenceDataUser", "UDFUser"];
    assert_eq!(did_you_mean("PortfolioUsr", names), Some("PortfolioUser"));
    assert_eq!(did_you_mean("Portfolio", names), Some("PortfolioUser"));
    assert_eq!(did_you_mean("portfolio", names), Some("PortfolioUser"));
    assert_eq!(did_you_mean("Dashboard", names), None);
    assert_eq!(did_you_mean("U", names), None);
}

#[test]
fn every_wait_time_form_and_its_errors() {
    let wait = |w: &str| {
        let yaml = format!("users:\n  A:\n    wait_time: {w}\n    tasks: [{{get: /}}]\n");
        parse(&yaml).map(|s| s.user_types[0].wait_time)
    };
    let secs = Duration::from_secs_f64;
    assert_eq!(wait("{constant: 1.5}"), Ok(WaitTime::Constant(secs(1.5))));
    assert_eq!(wait("{constant: 500ms}"), Ok(WaitTime::Constant(secs(0.5))));
    assert_eq!(
        wait("{constant_pacing: 10}"),
        Ok(WaitTime::ConstantPacing(secs(10.0)))
    );
    // Locust: constant_throughput(n) is constant_pacing(1 / n).
    assert_eq!(
        wait("{constant_throughput: 4}"),
        Ok(WaitTime::ConstantPacing(secs(0.25)))
    );
    let err = |w: &str| wait(w).unwrap_err().to_string();
    assert!(err("{constant_throughput: 0}").contains(
        "constant_throughput requires a positive rate, at least one task in 10 years, got: 0.0"
    ));
    assert!(err("{constant_throughput: 1e-300}").contains("got: 1e-300"));
    assert!(err("{between: [0, 1e300]}").contains("must be at most 315360000 seconds"));
    assert!(err("{constant: 99999999 years}").contains("must be at most 315360000 seconds"));
    assert!(err("{between: [5, 2]}").contains("the minimum (5s) is larger than the maximum (2s)"));
    assert!(err("{constant: -1}").contains("must be at least 0"));
    assert!(err("{constant: soon}").contains("`soon` is not a duration"));
    assert!(err("{}").contains("give exactly one of"));
}

#[test]
fn settings_cascade_from_defaults_to_user_to_step() {
    let yaml = "\
host: http://localhost:8000
defaults:
  headers: {Accept: text/html}
  timeout: 2s
  auth: {bearer: '{{ env.API_TOKEN }}'}
  follow_redirects: false
users:
  A:
    weight: 3
    wait_time: {between: [0.5, 2]}
    headers: {X-User: '{{ user_id }}'}
    timeout: 5s
    tasks:
      - get: /portfolio/{{ random_int(1, 10) }}/
        weight: 5
      - get: http://127.0.0.1:1/refused
        follow_redirects: true
      - get: /search
        query: {q: USD}
        name: Search
        headers: {Accept: application/json}
        timeout: 100ms
        auth: {basic: [u, p]}
";
    let s = parse(yaml).unwrap();
    let a = &s.user_types[0];
    assert_eq!(a.weight, 3.0);
    let names: Vec<(String, u32)> = a
        .tasks
        .iter()
        .map(|t| (t.label.clone(), t.weight))
        .collect();
    assert_eq!(
        names,
        [
            ("GET /portfolio/{{ random_int(1, 10) }}/".to_string(), 5),
            ("GET /refused".to_string(), 1),
            ("Search".to_string(), 1)
        ]
    );
    let request = |i| match task_step(&s, 0, i) {
        Step::Request(r) => r.clone(),
        other => panic!("{other:?}"),
    };
    let first = request(0);
    assert_eq!(
        (first.timeout, first.follow_redirects),
        (Duration::from_secs(5), false)
    );
    let auth = first.auth.as_ref().unwrap();
    assert!(matches!(&auth.auth, Auth::Bearer(t) if t.as_static() == Some("s3cret")));
    assert!(auth.inherited, "set in defaults");
    assert!(request(1).follow_redirects);
    let search = request(2);
    let headers: Vec<(&str, bool)> = search
        .headers
        .iter()
        .map(|h| (h.name.as_str(), h.inherited))
        .collect();
    assert_eq!(headers, [("x-user", true), ("accept", false)]);
    assert_eq!(
        search.headers[1].value.as_static(),
        Some("application/json")
    );
    assert_eq!(search.timeout, Duration::from_millis(100));
    let auth = search.auth.as_ref().unwrap();
    assert!(
        matches!(auth.auth, Auth::Basic(..)) && !auth.inherited,
        "the step's own"
    );
}

#[test]
fn journeys_nest_repeat_and_wait() {
    let yaml = "\
host: http://x.org
users:
  A:
    tasks:
      - name: browse
        weight: 3
        tags: [read]
        flow:
          - get: /list
            capture: {ids: {regex: '/item/(\\d+)/', pick: all}}
          - wait: {between: [1, 2]}
          - repeat: [1, 3]
            get: /item/{{ pick(ids) }}/
          - one_of:
              - {get: /export, weight: 1}
              - {wait: 500ms, weight: 4}
      - one_of:
          - {get: /a, tags: [x]}
          - {use: B}
  B:
    tasks: [{get: /b}]
";
    let s = parse(yaml).unwrap();
    let browse = &s.user_types[0].tasks[0];
    assert_eq!(
        (browse.label.as_str(), browse.weight, browse.tags.as_slice()),
        ("browse", 3, &["read".to_string()][..])
    );
    let Step::Flow(steps) = &browse.step else {
        panic!()
    };
    assert!(matches!(steps[1], Step::Wait(WaitTime::Between(..))));
    assert!(matches!(steps[2], Step::Repeat { min: 1, max: 3, .. }));
    let Step::OneOf(alternatives) = &steps[3] else {
        panic!()
    };
    assert_eq!(
        alternatives.iter().map(|c| c.weight).collect::<Vec<_>>(),
        [1, 4]
    );
    assert!(
        matches!(alternatives[1].step, Step::Wait(WaitTime::Constant(d)) if d == Duration::from_millis(500))
    );
    let Step::OneOf(nested) = task_step(&s, 0, 1) else {
        panic!()
    };
    assert_eq!(nested[1].label, "B");
    assert_eq!(s.user_types[0].tasks[1].label, "one_of at line 17");
}

#[test]
fn journey_errors_are_located() {
    let e = errors(
        "users:\n  A:\n    tasks:\n      - flow: []\n      - one_of: []\n      - {get: /, repeat: [3, 1]}\n      - {get: /, repeat: 20000}\n      - {}\n",
    );
    assert!(
        e.iter()
            .any(|m| m.contains("tasks[0].flow: a flow needs at least one step")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("tasks[1].one_of: `one_of` needs at least one alternative")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("tasks[2].repeat: [3, 1]: the minimum is larger")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("tasks[3].repeat: at most 10000 repeats")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("tasks[4]: a step needs a request")),
        "{e:?}"
    );
    let e = errors(
        "users:\n  A:\n    tasks:\n      - {get: /, flow: [{get: /}]}\n      - {wait: 1s, use: A}\n",
    );
    assert!(
        e.iter()
            .any(|m| m.contains("a step is one thing; this one is a request and `flow`")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("a step is one thing; this one is `wait` and `use`")),
        "{e:?}"
    );
}

#[test]
fn captures_of_every_kind() {
    let yaml = "\
host: http://x.org
users:
  A:
    tasks:
      - get: /
        capture:
          c: {cookie: sid}
          h: {header: Location}
          j: {json: $.data.id}
          r: {regex: 'id=(\\d+)-(\\w+)', group: 2, pick: random}
          f: {form_field: csrfmiddlewaretoken}
          links: {css: 'a.portfolio', attr: href, pick: all}
";
    let s = parse(yaml).unwrap();
    let Step::Request(r) = task_step(&s, 0, 0) else {
        panic!()
    };
    let kinds: Vec<&str> = r
        .captures
        .iter()
        .map(|c| match &c.source {
            CaptureSource::Cookie(_) => "cookie",
            CaptureSource::Header(_) => "header",
            CaptureSource::Json { .. } => "json",
            CaptureSource::Regex { group: Some(2), .. } => "regex group 2",
            CaptureSource::Regex { .. } => "regex",
            CaptureSource::Html { attr: Some(a), .. } if a == "value" => "form field",
            CaptureSource::Html { .. } => "css",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "cookie",
            "header",
            "json",
            "regex group 2",
            "form field",
            "css"
        ]
    );
    assert!(r.keep_body);
    let e = errors(
        "host: http://x.org\nusers:\n  A:\n    tasks:\n      - get: /\n        capture:\n          a: {regex: 'x(', group: 1}\n          b: {css: 'a[', attr: x}\n          c: {regex: '(x)', group: 2}\n          user_id: {cookie: x}\n          d: {json: '$[', cookie: y}\n          e: {header: x, attr: href}\n",
    );
    assert!(
        e.iter()
            .any(|m| m.contains("capture.a.regex: invalid regular expression")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("capture.b.css: `a[` is not a CSS selector")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("capture.c.group: the regex has 1 groups, there is no group 2")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("capture.user_id: `user_id` is a built-in name")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("capture.d: give one source per capture, not cookie and json")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("capture.e.attr: `attr` goes with `css`")),
        "{e:?}"
    );
}

#[test]
fn checks_bodies_and_auth_errors() {
    let yaml = "\
host: http://x.org
users:
  A:
    tasks:
      - post: /
        json: {a: 1}
        form: {b: 2}
        expect: {status: 99, body_matches: '(', json: {'$[': 1}}
        auth: {}
      - get: /
        body_file: missing.bin
";
    let e = errors(yaml);
    assert!(
        e.iter()
            .any(|m| m.contains("tasks[0]: give one body, not form and json")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("expect.status: `99` is not an HTTP status")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("expect.body_matches: invalid regular expression")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("expect.json: `$[` is not a JSONPath")),
        "{e:?}"
    );
    assert!(
        e.iter().any(|m| m
            .contains("tasks[0].auth: give one of `basic: [user, password]` or `bearer: token`")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("tasks[1].body_file: cannot read ./missing.bin")),
        "{e:?}"
    );
}

#[test]
fn env_values_and_feeders_resolve_at_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("logins.csv"),
        "username,password\nalice,a1\nbob,b2\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("photo.jpg"), b"\xff\xd8\xff").unwrap();
    let yaml = "\
host: http://x.org
data:
  logins: {csv: logins.csv, mode: unique}
users:
  A:
    tasks:
      - post: /login
        form: {u: '{{ logins.username }}', p: '{{ logins.password }}', t: '{{ env.API_TOKEN }}'}
      - post: /upload
        multipart:
          caption: hello
          photo: {file: photo.jpg, content_type: image/jpeg}
";
    let s = parse_in(dir.path(), yaml).unwrap();
    assert_eq!(s.feeders[0].rows.len(), 2);
    assert_eq!(s.feeders[0].mode, crate::scenario::FeederMode::Unique);
    let Step::Request(login) = task_step(&s, 0, 0) else {
        panic!()
    };
    let Body::Form(fields) = &login.body else {
        panic!()
    };
    assert_eq!(
        fields[2].1.as_static(),
        Some("s3cret"),
        "env values are read at load"
    );
    assert_eq!(fields[0].1.feeders().collect::<Vec<_>>(), [0]);
    let Step::Request(upload) = task_step(&s, 0, 1) else {
        panic!()
    };
    let Body::Multipart(parts) = &upload.body else {
        panic!()
    };
    assert!(
        matches!(&parts[1].1, crate::scenario::Part::File { filename, content_type, bytes } if filename == "photo.jpg" && content_type == "image/jpeg" && bytes.len() == 3)
    );

    let e = match parse_in(
        dir.path(),
        "host: http://x.org\ndata:\n  logins: {csv: logins.csv}\n  none: {csv: nope.csv}\nusers:\n  A:\n    tasks:\n      - get: '/{{ logins.usrname }}/{{ login.username }}/{{ env.NOT_SET_ANYWHERE }}/{{ a.b.c }}'\n",
    ) {
        Err(e) => e.0.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        Ok(_) => panic!("should fail"),
    };
    assert!(
        e.iter().any(|m| m.contains("data.none.csv: cannot read")),
        "{e:?}"
    );
    assert!(
        e.iter().any(|m| m
            .contains("data feeder `logins` has no column `usrname`, did you mean `username`?")),
        "{e:?}"
    );
}

#[test]
fn every_dotted_name_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("logins.csv"), "username\nalice\n").unwrap();
    let check = |t: &str| -> String {
        let yaml = format!(
            "host: http://x.org\ndata:\n  logins: {{csv: logins.csv}}\nusers:\n  A:\n    tasks:\n      - get: '/{t}'\n"
        );
        parse_in(dir.path(), &yaml).unwrap_err().to_string()
    };
    assert!(
        check("{{ login.username }}")
            .contains("no data feeder is named `login`, did you mean `logins`?")
    );
    assert!(
        check("{{ env.NOT_SET_ANYWHERE }}")
            .contains("the environment variable NOT_SET_ANYWHERE is not set")
    );
    assert!(check("{{ a.b.c }}").contains("a dotted name is `env.NAME` or `feeder.column`"));
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "username\n").unwrap();
    let yaml =
        "host: http://x.org\ndata:\n  e: {csv: empty.csv}\nusers:\n  A:\n    tasks: [{get: /}]\n";
    assert!(
        parse_in(dir.path(), yaml)
            .unwrap_err()
            .to_string()
            .contains("has a header row but no data rows")
    );
}

/// Every message the compiler can give, each from a file that has just that problem.
#[test]
fn every_compile_message() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("nameless.csv"), "user,\nalice,x\n").unwrap();
    std::fs::write(dir.path().join("ragged.csv"), "a,b\n1\n").unwrap();
    let task = |t: &str| format!("host: http://x.org\nusers:\n  A:\n    tasks:\n      - {t}\n");
    let cases: Vec<(String, &str)> = vec![
        ("users: {}\n".into(), "users: define at least one user type"),
        ("users:\n  A: {}\n".into(), "users.A: this user type has no `tasks`"),
        ("users:\n  'A B':\n    tasks: [{get: /}]\n".into(), "`A B` cannot be a user type name"),
        ("users:\n  A:\n    host: ftp://x\n    tasks: [{get: /}]\n".into(), "users.A.host: `ftp://x` is not an http:// or https:// URL"),
        ("users:\n  A:\n    weight: .nan\n    tasks: [{get: /}]\n".into(), "weight must be from 0 to 1000000"),
        ("users:\n  A:\n    headers: {'bad header': x}\n    tasks: [{get: /}]\n".into(), "`bad header` is not a valid HTTP header name"),
        (task("{get: ''}"), "the URL is empty"),
        (task("{get: '/{{ x'}"), "`{{` without a closing `}}`"),
        (task("{get: /, expect: {status: []}}"), "list at least one status"),
        (task("{post: /, json: !tagged 1}"), "YAML tag `!tagged` has no JSON meaning"),
        (task("{post: /, body: x, body_file: y}"), "give one body, not body and body_file"),
        (task("{get: /, capture: {'9x': {cookie: c}}}"), "`9x` is not a valid variable name"),
        (task("{get: /, capture: {x: {}}}"), "say where to capture from: one of"),
        (task("{get: /, capture: {x: {cookie: c, group: 1}}}"), "`group` goes with `regex`"),
        (task("{get: /, capture: {x: {header: 'a b'}}}"), "`a b` is not a valid HTTP header name"),
        (task("{get: /, capture: {x: {json: '$['}}}"), "`$[` is not a JSONPath"),
        (task("{wait: {between: [3, 1]}}"), "the minimum (3s) is larger than the maximum (1s)"),
        (task("{get: /, multipart: {p: {file: missing.png}}}"), "multipart.p.file: cannot read"),
        ("host: http://x.org\ndata:\n  n: {csv: nameless.csv}\nusers:\n  A:\n    tasks: [{get: /}]\n".into(), "every column needs a name in the header row"),
        ("host: http://x.org\ndata:\n  r: {csv: ragged.csv}\nusers:\n  A:\n    tasks: [{get: /}]\n".into(), "data.r.csv: "),
        (task("{flow: [{get: /, tags: [x]}]}"), "`tags` only applies to tasks and `one_of` alternatives"),
        (task("{one_of: [{get: /, weight: 2}], weight: 1}"), ""),
    ];
    for (yaml, expected) in cases {
        let result = parse_in(dir.path(), &yaml);
        if expected.is_empty() {
            assert!(result.is_ok(), "{yaml}: {:?}", result.err());
            continue;
        }
        let text = result.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.contains(expected),
            "for\n{yaml}expected {expected:?} in {text:?}"
        );
    }
}

#[test]
fn default_names_follow_locust() {
    let q = indexmap::IndexMap::new();
    assert_eq!(
        request::default_name("http://127.0.0.1:1/refused", &q),
        "/refused"
    );
    assert_eq!(request::default_name("https://x.org", &q), "/");
    let mut q = indexmap::IndexMap::new();
    q.insert(
        "id".to_string(),
        crate::scenario::model::Scalar("{{ id }}".to_string()),
    );
    assert_eq!(request::default_name("/item", &q), "/item?id={{ id }}");
}

#[test]
fn stages_compile_with_even_rates_and_name_their_mistakes() {
    let s = parse(
        "host: http://x.org\nstages:\n  - {duration: 2m, users: 100}\n  - {duration: 30s, users: 500}\n  - {duration: 1m, users: 500, user_types: [B]}\n  - {duration: 10, users: 100, spawn_rate: 50}\nusers:\n  A: {tasks: [{get: /}]}\n  B: {tasks: [{get: /}]}\n",
    )
    .unwrap();
    let got: Vec<(u64, u64, f64, Option<Vec<usize>>)> = s
        .stages
        .iter()
        .map(|st| {
            (
                st.duration.as_secs(),
                st.users,
                st.spawn_rate,
                st.user_types.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (120, 100, 100.0 / 120.0, None),
            (30, 500, 400.0 / 30.0, None),
            (60, 500, 1.0 / 60.0, Some(vec![1])),
            (10, 100, 50.0, None),
        ]
    );
    assert_eq!(
        Stage::at(&s.stages, Duration::from_secs(149))
            .unwrap()
            .users,
        500
    );
    assert_eq!(
        Stage::at(&s.stages, Duration::from_secs(215))
            .unwrap()
            .users,
        100
    );
    assert!(Stage::at(&s.stages, Duration::from_secs(220)).is_none());

    assert_eq!(
        errors(
            "host: http://x.org\nstages:\n  - {duration: 0s, users: 1}\n  - {duration: 1m, users: 2, spawn_rate: 0}\n  - {duration: 1m, users: 2, user_types: [Portfolio]}\n  - {duration: 1m, users: -2}\nusers:\n  PortfolioUser: {tasks: [{get: /}]}\n"
        ),
        ["s.yaml:6:20: stages[3].users: must be at least 0, found the number -2",]
    );
    assert_eq!(
        errors(
            "host: http://x.org\nstages:\n  - {duration: 0s, users: 1}\n  - {duration: 1m, users: 2, spawn_rate: 0}\n  - {duration: 1m, users: 2, user_types: [Portfolio]}\nusers:\n  PortfolioUser: {tasks: [{get: /}]}\n"
        ),
        [
            "s.yaml:3:6: stages[0].duration: a stage lasts more than 0 seconds and at most a week",
            "s.yaml:4:30: stages[1].spawn_rate: the spawn rate must be > 0",
            "s.yaml:5:43: stages[2].user_types[0]: no user type is named `Portfolio`, did you mean `PortfolioUser`?",
        ]
    );
}

#[test]
fn thresholds_name_requests_the_scenario_makes() {
    let s = parse(
        "host: http://x.org\nthresholds:\n  all: [error_rate < 1%]\n  Portfolio List: [p95 < 800ms, {check: median < 1s, abort: true}]\n  \"*List\": [{check: p99 < 2s, abort_after: 30s}]\nusers:\n  A:\n    tasks: [{get: /p/, name: Portfolio List}, {post: /x}]\n",
    )
    .unwrap();
    let shown: Vec<(String, String, Option<u64>)> = s
        .thresholds
        .iter()
        .map(|t| {
            (
                t.target.to_string(),
                t.text.clone(),
                t.abort_after.map(|d| d.as_secs()),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            (
                "All requests".to_string(),
                "error_rate < 1%".to_string(),
                None
            ),
            (
                "Portfolio List".to_string(),
                "p95 < 800ms".to_string(),
                None
            ),
            (
                "Portfolio List".to_string(),
                "median < 1s".to_string(),
                Some(10)
            ),
            ("*List".to_string(), "p99 < 2s".to_string(), Some(30)),
        ]
    );
    assert_eq!(
        s.request_names,
        [
            ("GET".to_string(), "Portfolio List".to_string()),
            ("POST".to_string(), "/x".to_string())
        ]
    );
    assert_eq!(
        errors(
            "host: http://x.org\nthresholds:\n  Portfolio Lst: [p95 < 1s]\n  GET /x: [p95 < 1s]\n  all: [p95 < 1 parsec]\nusers:\n  A:\n    tasks: [{get: /p/, name: Portfolio List}, {post: /x}]\n"
        ),
        [
            "s.yaml:3:3: thresholds.Portfolio Lst: no request of the scenario is named `Portfolio Lst`, did you mean `Portfolio List`?",
            "s.yaml:4:3: thresholds.GET /x: no GET request of the scenario is named `/x` (`/x` is POST)",
            "s.yaml:5:9: thresholds.all[0]: `p95 < 1 parsec` is not a threshold (write METRIC OP VALUE [for ENDPOINT], e.g. `p95 < 500ms`, `error_rate < 1%`, `rps >= 100`, `median < 300ms for GET Portfolio List`; metrics: median, avg, min, max, p50..p99.99, error_rate, rps, requests, failures)",
        ]
    );
}
