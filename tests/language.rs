//! Every construct of the scenario language, run by the real binary against servers on
//! 127.0.0.1 that record what they receive.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use common::*;

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    method: String,
    path: String,
    query: String,
    version: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// A server that records every request and answers from `reply(path)`.
fn recording(reply: fn(&str) -> Response) -> (String, Log) {
    let log: Log = Arc::default();
    let seen = log.clone();
    let app = Router::new().fallback(move |req: Request| {
        let seen = seen.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            let path = parts.uri.path().to_string();
            seen.lock().unwrap().push(Seen {
                at: Instant::now(),
                method: parts.method.to_string(),
                path: path.clone(),
                query: parts.uri.query().unwrap_or("").to_string(),
                version: format!("{:?}", parts.version),
                headers: parts.headers,
                body: body.to_vec(),
            });
            reply(&path)
        }
    });
    (format!("http://{}", serve(app)), log)
}

fn html(body: &str) -> Response {
    Html(body.to_string()).into_response()
}

fn pages(path: &str) -> Response {
    match path {
        "/list" => html(
            "<table><tr><td><a href=\"/item/7/\">a</a></td></tr><tr><td><a href=\"/item/8/\">b</a></td></tr>\
             <tr><td><a href=\"/item/9/\">c</a></td></tr></table><form><input type=\"hidden\" name=\"token\" value=\"tk-1\"></form>\
             <p id=\"note\">  ref 41-abc  </p>",
        ),
        "/redirect" => (StatusCode::FOUND, [("location", "/list")]).into_response(),
        "/json" => (
            [("content-type", "application/json")],
            r#"{"items": [{"id": 1}, {"id": 2}], "status": "ok"}"#,
        )
            .into_response(),
        _ => "ok".into_response(),
    }
}

fn run_scenario(yaml: &str, args: &str) -> (Run, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s.yaml", yaml);
    let run = locusta_line(
        dir.path(),
        &format!("-f s.yaml --only-summary --csv out {args}"),
    );
    (run, dir)
}

fn requests(log: &Log) -> Vec<Seen> {
    log.lock().unwrap().clone()
}

#[test]
fn flows_run_in_order_with_waits_repeats_and_choices() {
    let (host, log) = recording(pages);
    let yaml = format!(
        r#"
host: {host}
users:
  U:
    tasks:
      - name: journey
        flow:
          - get: /start
          - wait: 300ms
          - repeat: 3
            get: /again
          - repeat: [1, 2]
            flow: [{{get: /pair-a}}, {{get: /pair-b}}]
          - one_of:
              - {{get: /often, weight: 9}}
              - {{get: /rarely, weight: 1}}
          - get: /end
"#
    );
    let (run, _dir) = run_scenario(&yaml, "-u 1 -t 3");
    assert_eq!(run.code, 0, "{}", run.output());
    let seen = requests(&log);
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    // Every journey: /start, (wait), /again x3, (pair-a, pair-b) x1-2, one choice, /end.
    let starts: Vec<usize> = paths
        .iter()
        .enumerate()
        .filter(|(_, p)| **p == "/start")
        .map(|(i, _)| i)
        .collect();
    assert!(starts.len() >= 3, "{paths:?}");
    for w in starts.windows(2) {
        let journey = &paths[w[0]..w[1]];
        assert_eq!(&journey[1..4], ["/again"; 3], "{journey:?}");
        let pairs = journey.iter().filter(|p| **p == "/pair-a").count();
        assert!((1..=2).contains(&pairs), "{journey:?}");
        assert_eq!(journey.iter().filter(|p| **p == "/pair-b").count(), pairs);
        assert_eq!(
            journey
                .iter()
                .filter(|p| **p == "/often" || **p == "/rarely")
                .count(),
            1,
            "{journey:?}"
        );
        assert_eq!(*journey.last().unwrap(), "/end");
        // The think time sits between /start and the first /again.
        let (start, again) = (&seen[w[0]], &seen[w[0] + 1]);
        assert!(
            again.at.duration_since(start.at) >= Duration::from_millis(290),
            "wait honoured"
        );
    }
}

#[test]
fn one_of_follows_its_weights() {
    let (host, log) = recording(pages);
    let yaml = format!(
        "host: {host}\nusers:\n  U:\n    tasks:\n      - one_of:\n          - {{get: /often, weight: 9}}\n          - {{get: /rarely, weight: 1}}\n"
    );
    let (run, _dir) = run_scenario(&yaml, "-u 2 -r 2 -t 2");
    assert_eq!(run.code, 0, "{}", run.output());
    let seen = requests(&log);
    let often = seen.iter().filter(|s| s.path == "/often").count() as f64;
    let rarely = seen.iter().filter(|s| s.path == "/rarely").count() as f64;
    let share = rarely / (often + rarely);
    assert!(
        often + rarely > 500.0 && (0.06..0.14).contains(&share),
        "{often} vs {rarely}"
    );
}

#[test]
fn captures_of_every_kind_feed_later_requests() {
    let (host, log) = recording(pages);
    let yaml = format!(
        r#"
host: {host}
users:
  U:
    wait_time: {{constant: 0.05}}
    tasks:
      - name: capture and use
        flow:
          - get: /list
            capture:
              links: {{css: 'td a', attr: href, pick: all}}
              last: {{css: 'td a', attr: href, pick: last}}
              token: {{form_field: token}}
              note: {{css: '#note'}}
              code: {{regex: 'ref (\d+)-(\w+)', group: 2}}
          - get: "{{{{ pick(links) }}}}"
            name: picked
          - get: /use
            query: {{last: "{{{{ last }}}}", token: "{{{{ token }}}}", note: "{{{{ note }}}}", code: "{{{{ code }}}}", all: "{{{{ links }}}}"}}
          - get: /json
            capture:
              ids: {{json: "$.items[*].id", pick: all}}
              status: {{json: $.status}}
          - get: /use-json
            query: {{ids: "{{{{ ids }}}}", status: "{{{{ status }}}}"}}
"#
    );
    let (run, _dir) = run_scenario(&yaml, "-u 1 -t 2");
    assert_eq!(run.code, 0, "{}", run.output());
    let seen = requests(&log);
    let picked: Vec<&str> = seen
        .iter()
        .filter(|s| s.path.starts_with("/item/"))
        .map(|s| s.path.as_str())
        .collect();
    assert!(
        picked.len() > 5
            && picked
                .iter()
                .all(|p| ["/item/7/", "/item/8/", "/item/9/"].contains(p)),
        "{picked:?}"
    );
    let used = seen.iter().find(|s| s.path == "/use").unwrap();
    let q: HashMap<String, String> = url::form_urlencoded::parse(used.query.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(q["last"], "/item/9/");
    assert_eq!(q["token"], "tk-1");
    assert_eq!(q["note"], "ref 41-abc");
    assert_eq!(q["code"], "abc");
    assert_eq!(q["all"], "/item/7/,/item/8/,/item/9/");
    let json = seen.iter().find(|s| s.path == "/use-json").unwrap();
    let q: HashMap<String, String> = url::form_urlencoded::parse(json.query.as_bytes())
        .into_owned()
        .collect();
    assert_eq!((q["ids"].as_str(), q["status"].as_str()), ("1,2", "ok"));
}

#[test]
fn feeders_hand_out_rows_by_mode() {
    let (host, log) = recording(pages);
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "logins.csv",
        "user,pass\nalice,a1\nbob,b2\ncarol,c3\n",
    );
    write(dir.path(), "terms.csv", "term\nUSD\nEUR\n");
    let yaml = format!(
        r#"
host: {host}
data:
  logins: {{csv: logins.csv, mode: unique}}
  terms: {{csv: terms.csv, mode: cycle, per: iteration}}
users:
  U:
    wait_time: {{constant: 0.05}}
    on_start:
      - post: /login
        form: {{user: "{{{{ logins.user }}}}", pass: "{{{{ logins.pass }}}}"}}
    tasks:
      - get: /search
        query: {{q: "{{{{ terms.term }}}}", who: "{{{{ logins.user }}}}", n: "{{{{ iteration }}}}"}}
"#
    );
    write(dir.path(), "s.yaml", &yaml);
    let run = locusta_line(dir.path(), "-f s.yaml -u 3 -r 3 -t 2 --only-summary");
    assert_eq!(run.code, 0, "{}", run.output());
    let seen = requests(&log);
    let mut logins: Vec<String> = seen
        .iter()
        .filter(|s| s.path == "/login")
        .map(|s| String::from_utf8_lossy(&s.body).into_owned())
        .collect();
    logins.sort();
    assert_eq!(
        logins,
        [
            "user=alice&pass=a1",
            "user=bob&pass=b2",
            "user=carol&pass=c3"
        ],
        "unique: each user its own row"
    );
    let searches: Vec<HashMap<String, String>> = seen
        .iter()
        .filter(|s| s.path == "/search")
        .map(|s| {
            url::form_urlencoded::parse(s.query.as_bytes())
                .into_owned()
                .collect()
        })
        .collect();
    let terms: std::collections::HashSet<&str> = searches.iter().map(|q| q["q"].as_str()).collect();
    assert_eq!(
        terms,
        ["USD", "EUR"].into_iter().collect(),
        "cycle, a new row each iteration"
    );
    // A user keeps its login row across iterations; iteration counts up per user.
    for who in ["alice", "bob", "carol"] {
        let ns: Vec<u64> = searches
            .iter()
            .filter(|q| q["who"] == who)
            .map(|q| q["n"].parse().unwrap())
            .collect();
        assert!(
            ns.len() > 3 && ns.windows(2).all(|w| w[1] == w[0] + 1) && ns[0] == 1,
            "{who}: {ns:?}"
        );
    }

    // A fourth user finds no row left: a clear error, counted in the exceptions file.
    let run = locusta_line(
        dir.path(),
        "-f s.yaml -u 4 -r 4 -t 1 --only-summary --csv x",
    );
    assert_eq!(run.code, 1, "{}", run.output());
    let exceptions = csv_rows(&dir.path().join("x_exceptions.csv"));
    assert_eq!(
        exceptions[1][1],
        "data feeder `logins` has no rows left: its 3 rows were each used once (mode unique)"
    );
}

#[test]
fn generated_values_and_environment() {
    let (host, log) = recording(pages);
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "host: {host}\nusers:\n  U:\n    wait_time: {{constant: 0.2}}\n    tasks:\n      - get: /gen\n        query: {{id: '{{{{ uuid() }}}}', t: '{{{{ timestamp() }}}}', ms: '{{{{ timestamp_ms() }}}}', day: \"{{{{ now('%Y-%m-%d') }}}}\", secret: '{{{{ env.LOCUSTA_TEST_SECRET }}}}'}}\n"
    );
    write(dir.path(), "s.yaml", &yaml);
    let run = run_cmd(
        command(dir.path())
            .args(["-f", "s.yaml", "-t", "1", "--only-summary"])
            .env("LOCUSTA_TEST_SECRET", "hunter2"),
    );
    assert_eq!(run.code, 0, "{}", run.output());
    let seen = requests(&log);
    let qs: Vec<HashMap<String, String>> = seen
        .iter()
        .map(|s| {
            url::form_urlencoded::parse(s.query.as_bytes())
                .into_owned()
                .collect()
        })
        .collect();
    assert!(qs.len() >= 3);
    let ids: std::collections::HashSet<&str> = qs.iter().map(|q| q["id"].as_str()).collect();
    assert_eq!(ids.len(), qs.len(), "a new UUID each time");
    assert!(
        ids.iter()
            .all(|id| uuid::Uuid::parse_str(id).is_ok_and(|u| u.get_version_num() == 4))
    );
    let now = chrono::Utc::now();
    for q in &qs {
        assert!((q["t"].parse::<i64>().unwrap() - now.timestamp()).abs() < 30);
        assert_eq!(q["ms"].len(), 13);
        assert_eq!(q["day"], now.format("%Y-%m-%d").to_string());
        assert_eq!(q["secret"], "hunter2");
    }
    // Without the variable the scenario does not start: secrets are checked before the run.
    let run = locusta_line(dir.path(), "-f s.yaml -t 1");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("the environment variable LOCUSTA_TEST_SECRET is not set"),
        "{}",
        run.output()
    );
}

#[test]
fn auth_redirects_and_bodies_reach_the_server() {
    let (host, log) = recording(pages);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("payload.bin"), [0u8, 159, 146, 150, 255]).unwrap();
    std::fs::write(dir.path().join("photo.png"), b"\x89PNG fake").unwrap();
    let yaml = format!(
        r#"
host: {host}
users:
  U:
    wait_time: {{constant: 0.1}}
    auth: {{bearer: "{{{{ token }}}}"}}
    on_start:
      - get: /list
        capture: {{token: {{form_field: token}}}}
    tasks:
      - name: all
        flow:
          - get: /bearer
          - get: /basic
            auth: {{basic: [alice, "p4ss:word"]}}
          - get: /redirect
            follow_redirects: false
            expect: {{status: 302}}
          - get: /redirect
            name: followed
          - put: /file
            body_file: payload.bin
          - post: /upload
            multipart:
              caption: "user {{{{ user_id }}}}"
              photo: {{file: photo.png, content_type: image/png, filename: site.png}}
"#
    );
    write(dir.path(), "s.yaml", &yaml);
    let run = locusta_line(dir.path(), "-f s.yaml -u 1 -t 1 --only-summary --csv a");
    assert_eq!(run.code, 0, "{}", run.output());
    let seen = requests(&log);
    let auth = |path: &str| {
        seen.iter().find(|s| s.path == path).map(|s| {
            s.headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_string())
        })
    };
    // The user-wide bearer token waits for the login that captures it...
    assert_eq!(auth("/list"), Some(None));
    // ...then rides on every request; a step's own auth replaces it.
    assert_eq!(auth("/bearer"), Some(Some("Bearer tk-1".to_string())));
    assert_eq!(
        auth("/basic"),
        Some(Some("Basic YWxpY2U6cDRzczp3b3Jk".to_string()))
    );
    let stats = csv_rows(&dir.path().join("a_stats.csv"));
    assert_eq!(
        stats_row(&stats, "GET", "/redirect")[3],
        "0",
        "302 expected and not followed"
    );
    assert!(
        seen.iter().filter(|s| s.path == "/list").count() > 1,
        "the followed redirect lands on /list"
    );
    let file = seen.iter().find(|s| s.path == "/file").unwrap();
    assert_eq!(
        (file.method.as_str(), file.body.as_slice()),
        ("PUT", &[0u8, 159, 146, 150, 255][..])
    );
    let upload = seen.iter().find(|s| s.path == "/upload").unwrap();
    let ct = upload
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(ct.starts_with("multipart/form-data; boundary="), "{ct}");
    let body = String::from_utf8_lossy(&upload.body);
    assert!(
        body.contains("name=\"caption\"\r\n\r\nuser 1\r\n"),
        "{body}"
    );
    assert!(body.contains("name=\"photo\"; filename=\"site.png\"\r\nContent-Type: image/png\r\n\r\n\u{fffd}PNG fake"), "{body}");
}

#[test]
fn http2_by_prior_knowledge() {
    let (host, log) = recording(pages);
    let dir = tempfile::tempdir().unwrap();
    for (name, http2) in [("h1.yaml", ""), ("h2.yaml", "defaults: {http2: true}\n")] {
        write(
            dir.path(),
            name,
            &format!(
                "host: {host}\n{http2}users:\n  U:\n    wait_time: {{constant: 0.2}}\n    tasks: [{{get: /{name}}}]\n"
            ),
        );
        let run = locusta_line(dir.path(), &format!("-f {name} -t 1 --only-summary"));
        assert_eq!(run.code, 0, "{}", run.output());
    }
    let seen = requests(&log);
    let version = |p: &str| seen.iter().find(|s| s.path == p).unwrap().version.clone();
    assert_eq!(version("/h1.yaml"), "HTTP/1.1");
    assert_eq!(version("/h2.yaml"), "HTTP/2.0");
}

#[test]
fn tls_needs_a_trusted_certificate_or_insecure() {
    let (port, cert_pem) = serve_tls(Router::new().fallback(|| async { "secure" }));
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "s.yaml",
        &format!(
            "host: https://localhost:{port}\nusers:\n  U:\n    wait_time: {{constant: 0.2}}\n    tasks: [{{get: /}}]\n"
        ),
    );
    write(dir.path(), "ca.pem", &cert_pem);
    let run = locusta_line(dir.path(), "-f s.yaml -t 1 --only-summary --csv untrusted");
    assert_eq!(
        run.code,
        1,
        "a self-signed certificate is not trusted: {}",
        run.output()
    );
    let failures = csv_rows(&dir.path().join("untrusted_failures.csv"));
    assert!(failures[1][2].starts_with("SSLError("), "{failures:?}");
    let run = locusta_line(dir.path(), "-f s.yaml -t 1 --only-summary --insecure");
    assert_eq!(run.code, 0, "--insecure accepts it: {}", run.output());
    let run = locusta_line(dir.path(), "-f s.yaml -t 1 --only-summary --ca-file ca.pem");
    assert_eq!(run.code, 0, "--ca-file trusts it: {}", run.output());
    let run = locusta_line(dir.path(), "-f s.yaml -t 1 --ca-file nothing.pem");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot read --ca-file nothing.pem"),
        "{}",
        run.output()
    );
}

#[test]
fn tags_select_journeys() {
    let (host, log) = recording(pages);
    let yaml = format!(
        "host: {host}\nusers:\n  U:\n    wait_time: {{constant: 0.05}}\n    tasks:\n      - {{get: /plain}}\n      - name: j\n        tags: [journey]\n        flow:\n          - get: /j1\n          - one_of:\n              - {{get: /j-write, tags: [write]}}\n              - {{get: /j-read}}\n"
    );
    let (run, _dir) = run_scenario(&yaml, "-u 1 -t 1 -T journey -E write");
    assert_eq!(run.code, 0, "{}", run.output());
    let paths: std::collections::HashSet<String> =
        requests(&log).into_iter().map(|s| s.path).collect();
    assert_eq!(
        paths,
        ["/j1", "/j-read"].into_iter().map(String::from).collect()
    );
}
