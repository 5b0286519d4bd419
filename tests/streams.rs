//! `ws:` and `sse:` steps, run by the real binary: the shipped streaming scenario against the
//! demo target, and every fault against a server on another stack (Python's `websockets`,
//! tests/fixtures/ws_server.py), each in Locust's files under its own Type.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::*;

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn count(stats: &[Vec<String>], method: &str, name: &str) -> u64 {
    stats_row(stats, method, name)[2].parse().unwrap()
}

fn failures(stats: &[Vec<String>], method: &str, name: &str) -> u64 {
    stats_row(stats, method, name)[3].parse().unwrap()
}

#[test]
fn the_streaming_scenario_runs_against_the_demo_with_no_failures() {
    let addr = demo(0.0);
    let dir = tempfile::tempdir().unwrap();
    let scenario = root().join("scenarios/streaming.yaml");
    let host = format!("http://{addr}");
    let run = locusta(
        dir.path(),
        &[
            "-f",
            scenario.to_str().unwrap(),
            "-H",
            &host,
            "-u",
            "10",
            "-r",
            "10",
            "-t",
            "8s",
            "--headless",
            "--only-summary",
            "--csv",
            "s",
        ],
    );
    // 0: no failure and every threshold met.
    assert_eq!(run.code, 0, "{}", run.output());
    let stats = csv_rows(&dir.path().join("s_stats.csv"));
    for (method, name) in [
        ("WS", "/ws/stream"),
        ("WS", "/ws/stream subscribed"),
        ("WS", "/ws/stream session"),
        ("WSR", "/ws/stream"),
        ("SSE", "/sse/stream"),
        ("SSE", "/sse/stream first event"),
        ("SSER", "/sse/stream"),
        ("GET", "Instruments"),
    ] {
        assert!(
            count(&stats, method, name) > 0,
            "{method} {name}: {stats:?}"
        );
        assert_eq!(failures(&stats, method, name), 0, "{method} {name}");
    }
    // Every connection subscribed once, and was closed once, when its user stopped.
    let connects = count(&stats, "WS", "/ws/stream");
    assert_eq!(count(&stats, "WS", "/ws/stream subscribed"), connects);
    assert_eq!(count(&stats, "WS", "/ws/stream session"), connects);
    // Ticks counted by the holds are messages received, so never more than those.
    let ticks = stats
        .iter()
        .find(|r| r[0] == "WSR" && r[1] == "/ws/stream ticks");
    if let Some(t) = ticks {
        assert!(t[2].parse::<u64>().unwrap() <= count(&stats, "WSR", "/ws/stream"));
    }
    // What the demo sent is what was received, but for what was on its way when a user
    // closed (at 2 ticks a second, at most a couple a connection); every feed is closed.
    let feed = demo_feed(addr);
    let received = count(&stats, "WSR", "/ws/stream");
    let sent = feed["messages_sent"].as_u64().unwrap();
    assert!(
        received <= sent && sent - received <= 2 * connects,
        "received {received}, the demo sent {sent} on {connects} connections"
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

/// The demo's `/ws/stats`, once every feed has closed (the server sees a close a moment
/// after the client has sent it).
fn demo_feed(addr: std::net::SocketAddr) -> serde_json::Value {
    let url = format!("http://{addr}/ws/stats");
    for _ in 0..100 {
        let text = runtime().block_on(async { reqwest::get(&url).await?.text().await });
        let feed: serde_json::Value = serde_json::from_str(&text.unwrap()).unwrap();
        if feed["open"] == 0 {
            return feed;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the demo still has feeds open 5 s after the run");
}

#[test]
fn an_sse_stream_reconnects_with_last_event_id_and_non_streams_fail() {
    let addr = demo(0.0);
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "s.yaml",
        "users:\n  U:\n    tasks:\n      - flow:\n          - sse: /sse/stream?count=6&drop_after=3&rate=50\n            name: feed\n            reconnect: 2\n            steps:\n              - expect: {name: done, match: {event: done}, within: 20s}\n          - sse: /health/\n            name: not-a-stream\n",
    );
    let host = format!("http://{addr}");
    let run = locusta(
        dir.path(),
        &[
            "-f",
            "s.yaml",
            "-H",
            &host,
            "-u",
            "1",
            "-r",
            "1",
            "-i",
            "1",
            "--headless",
            "--only-summary",
            "--csv",
            "f",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.output());
    let stats = csv_rows(&dir.path().join("f_stats.csv"));
    // Three connections of three ticks each at most: with Last-Event-ID the server goes on
    // from the last id, so the six ticks and `done` arrive once each.
    assert_eq!(count(&stats, "SSE", "feed"), 3, "{stats:?}");
    assert_eq!(count(&stats, "SSER", "feed"), 7, "{stats:?}");
    assert_eq!(failures(&stats, "SSE", "feed done"), 0, "{stats:?}");
    assert_eq!(failures(&stats, "SSE", "not-a-stream"), 1);
    let errors = csv_rows(&dir.path().join("f_failures.csv"));
    assert!(
        errors.iter().any(|r| r[1] == "not-a-stream"
            && r[2].contains("expected an event stream (text/event-stream), got text/plain")),
        "{errors:?}"
    );
}

/// tests/fixtures/ws_server.py on a free port, and its port; `None` (after `missing_tool`)
/// without Python's `websockets`.
fn python_ws_server() -> Option<(Child, u16)> {
    let python = std::env::var("LOCUSTA_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let has = Command::new(&python)
        .args(["-c", "import websockets"])
        .status()
        .is_ok_and(|s| s.success());
    if !has {
        missing_tool(
            "Python's websockets package",
            "locusta against another WebSocket stack",
        );
        return None;
    }
    let mut child = Command::new(&python)
        .arg(root().join("tests/fixtures/ws_server.py"))
        .arg("60")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the Python server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("the server prints its port");
    Some((child, port))
}

#[test]
fn every_websocket_fault_is_a_failure_in_websocket_clients_words() {
    let Some((mut server, port)) = python_ws_server() else {
        return;
    };
    let dead = closed_port();
    let url = |path: &str| format!("ws://127.0.0.1:{port}{path}");
    let scenario = format!(
        r#"users:
  U:
    tasks:
      - flow:
          - ws: {echo}
            name: echo
            steps:
              - send: {{json: {{hello: "u{{{{ user_id }}}}"}}}}
              - expect: {{name: reply, match: {{json_exists: $.hello}}, capture: {{got: {{json: $.hello}}}}}}
              - send: "again {{{{ got }}}}"
              - expect: {{name: again, match: {{contains: "again u"}}}}
              - ping: {{}}
              - close: {{}}
          - ws: {noise}
            name: noise
            steps:
              - send: go
              - expect: {{name: ack, match: {{json: {{"$.type": ack}}}}}}
              - expect: {{name: kept, match: {{json: {{"$.n": 3}}}}, within: 1s}}
          - ws: {auth}
            name: auth
          - ws: ws://127.0.0.1:{dead}/x
            name: refused
          - ws: {close}
            name: close-1011
            steps: [{{send: x}}, {{hold: 5s}}]
          - ws: {drop}
            name: drop
            steps: [{{send: x}}, {{hold: 5s}}]
          - ws: {silent}
            name: silent
            idle_timeout: 500ms
            steps: [{{hold: 5s}}]
          - ws: {garbage}
            name: garbage
            steps:
              - send: x
              - expect: {{name: checked, check: {{json_exists: $.a}}}}
          - ws: {feed}
            name: feed
            steps:
              - send: subscribe
              - expect: {{name: ack, match: {{json: {{"$.type": ack}}}}}}
              - hold: {{messages: 5, count: {{name: ticks, match: {{json: {{"$.type": tick}}}}, min: 5}}}}
              - expect: {{name: never, match: {{json: {{"$.type": never}}}}, within: 300ms}}
"#,
        echo = url("/echo"),
        noise = url("/noise-then-ack"),
        auth = url("/auth"),
        close = url("/close-1011"),
        drop = url("/drop"),
        silent = url("/silent"),
        garbage = url("/garbage"),
        feed = url("/feed"),
    );
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s.yaml", &scenario);
    let run = locusta(
        dir.path(),
        &[
            "-f",
            "s.yaml",
            "-u",
            "1",
            "-r",
            "1",
            "-i",
            "1",
            "--headless",
            "--only-summary",
            "--csv",
            "f",
        ],
    );
    let _ = server.kill();
    assert_eq!(run.code, 1, "{}", run.output());
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let stats = csv_rows(&dir.path().join("f_stats.csv"));
    for name in [
        "echo",
        "echo reply",
        "echo again",
        "echo ping",
        "echo session",
    ] {
        assert_eq!(count(&stats, "WS", name), 1, "{name}: {stats:?}");
        assert_eq!(failures(&stats, "WS", name), 0, "{name}: {stats:?}");
    }
    // An expect looks at the messages no earlier expect took: `n: 3` came before the ack.
    assert_eq!(failures(&stats, "WS", "noise ack"), 0);
    assert_eq!(failures(&stats, "WS", "noise kept"), 0);
    assert_eq!(failures(&stats, "WSR", "feed ticks"), 0, "{stats:?}");
    assert_eq!(count(&stats, "WSR", "feed ticks"), 5, "{stats:?}");

    let errors = csv_rows(&dir.path().join("f_failures.csv"));
    let error = |method: &str, name: &str| -> String {
        let rows: Vec<&Vec<String>> = errors
            .iter()
            .filter(|r| r[0] == method && r[1] == name)
            .collect();
        assert_eq!(rows.len(), 1, "one error for {method} {name}: {errors:?}");
        rows[0][2].clone()
    };
    assert_eq!(
        error("WS", "auth"),
        "WebSocketBadStatusException('Handshake status 401 Unauthorized')"
    );
    assert_eq!(
        error("WS", "refused"),
        "ConnectionRefusedError(111, 'Connection refused')"
    );
    assert_eq!(
        error("WS", "close-1011 session"),
        "WebSocketConnectionClosedException('closed by the server with code 1011 internal error')"
    );
    assert_eq!(
        error("WS", "drop session"),
        "WebSocketConnectionClosedException('Connection to remote host was lost.')"
    );
    assert_eq!(
        error("WSR", "silent"),
        "WebSocketTimeoutException('no message for 0.5 s')"
    );
    assert_eq!(
        error("WS", "garbage checked"),
        "CatchResponseError('expected a JSON body')"
    );
    assert_eq!(
        error("WS", "feed never"),
        "WebSocketTimeoutException('no message with $.type = \"never\" within 0.3 s')"
    );
}

/// `wss://` goes through the run's TLS trust, as HTTPS does: a self-signed certificate fails
/// the connect in websocket-client's words, and `--insecure` or `--ca-file` accept it.
#[test]
fn wss_trusts_what_https_trusts() {
    use axum::extract::ws::{Message, WebSocketUpgrade};

    let echo = axum::Router::new().route(
        "/echo",
        axum::routing::get(|upgrade: WebSocketUpgrade| async move {
            upgrade.on_upgrade(|mut socket| async move {
                while let Some(Ok(Message::Text(t))) = socket.recv().await {
                    if socket.send(Message::Text(t)).await.is_err() {
                        return;
                    }
                }
            })
        }),
    );
    let (port, cert_pem) = serve_tls(echo);
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "s.yaml",
        &format!(
            "users:\n  U:\n    tasks:\n      - ws: wss://localhost:{port}/echo\n        name: echo\n        steps:\n          - send: hello\n          - expect: {{name: back, match: {{contains: hello}}, within: 5s}}\n"
        ),
    );
    write(dir.path(), "ca.pem", &cert_pem);
    let run_with = |extra: &[&str], csv: &str| {
        let mut args = vec![
            "-f",
            "s.yaml",
            "-u",
            "1",
            "-i",
            "1",
            "--headless",
            "--only-summary",
            "--csv",
            csv,
        ];
        args.extend_from_slice(extra);
        locusta(dir.path(), &args)
    };
    let run = run_with(&[], "untrusted");
    assert_eq!(run.code, 1, "{}", run.output());
    let errors = csv_rows(&dir.path().join("untrusted_failures.csv"));
    assert!(
        errors
            .iter()
            .any(|r| r[0] == "WS" && r[1] == "echo" && r[2].starts_with("SSLError(")),
        "{errors:?}"
    );
    for (extra, csv) in [
        (&["--insecure"][..], "insecure"),
        (&["--ca-file", "ca.pem"], "ca"),
    ] {
        let run = run_with(extra, csv);
        assert_eq!(run.code, 0, "{extra:?}: {}", run.output());
        let stats = csv_rows(&dir.path().join(format!("{csv}_stats.csv")));
        assert_eq!(count(&stats, "WS", "echo back"), 1, "{extra:?}: {stats:?}");
    }
}
