//! A peer that sends numbers no run has, on the wire (ZeroMQ + msgpack, as Locust's): a worker
//! written here reporting 10^18 requests to a real locusta master, and a master written here
//! asking a real locusta worker for 10^18 users and an infinite stop timeout. Each side logs the
//! message, drops it, goes on with the valid ones and ends cleanly.

mod common;

use std::time::{Duration, Instant};

use common::*;
use locusta::distributed::protocol::Message;
use rmpv::Value;
use zeromq::{
    DealerSocket, RouterSocket, Socket, SocketOptions, SocketRecv, SocketSend, ZmqMessage,
};

fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(
        pairs
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

/// A stats report with one entry of `requests` requests, all at 3 ms.
fn report(requests: Value, counted: Value) -> Value {
    let entry = map(vec![
        ("name", Value::from("/x")),
        ("method", Value::from("GET")),
        (
            "last_request_timestamp",
            Value::F64(locusta::stats::unix_now()),
        ),
        ("start_time", Value::F64(locusta::stats::unix_now())),
        ("num_requests", requests.clone()),
        ("num_none_requests", Value::from(0)),
        ("num_failures", Value::from(0)),
        ("total_response_time", Value::F64(15.0)),
        ("max_response_time", Value::F64(3.0)),
        ("min_response_time", Value::F64(3.0)),
        ("total_content_length", Value::from(50)),
        (
            "response_times",
            Value::Map(vec![(Value::from(3), counted)]),
        ),
        ("num_reqs_per_sec", Value::Map(vec![])),
        ("num_fail_per_sec", Value::Map(vec![])),
    ]);
    map(vec![
        ("stats", Value::Array(vec![entry.clone()])),
        ("stats_total", entry),
        ("errors", Value::Map(vec![])),
        ("user_classes_count", map(vec![("U", Value::from(2))])),
        ("user_count", Value::from(2)),
    ])
}

async fn send(socket: &mut DealerSocket, kind: &str, data: Value) {
    let frame = Message::new(kind, data, "fake_1").encode();
    socket
        .send(ZmqMessage::from(frame))
        .await
        .expect("send to the master");
}

#[test]
fn a_master_drops_a_report_with_numbers_out_of_range_and_runs_on() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "s.yaml",
        "host: http://127.0.0.1:1\nusers:\n  U:\n    tasks: [{get: /x}]\n",
    );
    let port = closed_port();
    let mut master = watch(command(dir.path()).args([
        "-f",
        "s.yaml",
        "--master",
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        &port.to_string(),
        "-u",
        "2",
        "-r",
        "2",
        "-t",
        "5",
        "--csv",
        "m",
        "--only-summary",
    ]));
    master.wait_for_log("Starting locusta", Duration::from_secs(30));
    runtime().block_on(async {
        let mut options = SocketOptions::default();
        options.peer_identity("fake_1".parse().unwrap());
        let mut socket = DealerSocket::with_options(options);
        let started = Instant::now();
        while socket.connect(&format!("tcp://127.0.0.1:{port}")).await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "no master");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        send(&mut socket, "client_ready", Value::from(-1)).await;
        // Answer like a worker until the master says quit: heartbeats every second, and after
        // the spawn one report out of range, then a valid one.
        let mut reported = false;
        let mut beat = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = beat.tick() => {
                    let state = if reported { "running" } else { "ready" };
                    send(&mut socket, "heartbeat", map(vec![
                        ("state", Value::from(state)),
                        ("current_cpu_usage", Value::F64(1.0)),
                        ("current_memory_usage", Value::from(1_000_000)),
                    ])).await;
                }
                frame = socket.recv() => {
                    let frame = frame.expect("a message from the master");
                    let bytes = frame.get(0).expect("one frame").to_vec();
                    let message = Message::decode(&bytes).expect("a Locust message");
                    match message.kind.as_str() {
                        "spawn" if !reported => {
                            send(&mut socket, "spawning_complete", map(vec![
                                ("user_classes_count", map(vec![("U", Value::from(2))])),
                                ("user_count", Value::from(2)),
                            ])).await;
                            let huge = Value::from(1_000_000_000_000_000_000u64);
                            send(&mut socket, "stats", report(huge.clone(), huge)).await;
                            send(&mut socket, "stats", report(Value::from(5), Value::from(5))).await;
                            reported = true;
                        }
                        "quit" => {
                            send(&mut socket, "stats", report(Value::from(0), Value::from(0))).await;
                            send(&mut socket, "quit", Value::Nil).await;
                            break;
                        }
                        _ => {}
                    }
                }
            }
        }
    });
    let run = master.finish(Duration::from_secs(60));
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(
        run.stderr.contains(
            "Dropping a malformed stats message from worker fake_1: entry \"/x\": num_requests: expected a whole number from 0 to 20000000, got 1000000000000000000"
        ),
        "{}",
        run.output()
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.output());
    let rows = csv_rows(&dir.path().join("m_stats.csv"));
    assert_eq!(stats_row(&rows, "GET", "/x")[2], "5", "{rows:?}");
}

/// A master's spawn for `users` users of type U.
fn spawn(timestamp: f64, users: Value, stop_timeout: Value) -> Value {
    map(vec![
        ("timestamp", Value::F64(timestamp)),
        ("user_classes_count", map(vec![("U", users)])),
        ("host", Value::from("http://127.0.0.1:1")),
        ("stop_timeout", stop_timeout),
        ("parsed_options", Value::Map(vec![])),
    ])
}

#[test]
fn a_worker_drops_a_spawn_with_numbers_out_of_range_and_runs_on() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "s.yaml",
        "users:\n  U:\n    wait_time: {constant: 1}\n    tasks: [{get: /x}]\n",
    );
    let port = closed_port();
    let mut socket = runtime().block_on(async {
        let mut socket = RouterSocket::new();
        socket
            .bind(&format!("tcp://127.0.0.1:{port}"))
            .await
            .expect("bind");
        socket
    });
    let worker = watch(command(dir.path()).args([
        "-f",
        "s.yaml",
        "--worker",
        "--master-port",
        &port.to_string(),
    ]));
    let to = |identity: &[u8], kind: &str, data: Value| {
        let mut frame = ZmqMessage::from(identity.to_vec());
        frame.push_back(Message::new(kind, data, "master").encode().into());
        frame
    };
    let counts = runtime().block_on(async {
        let mut identity = Vec::new();
        let mut step = 0;
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), socket.recv())
                .await
                .expect("the worker talks within 30 s")
                .expect("a frame");
            let message =
                Message::decode(frame.get(1).expect("a payload")).expect("a Locust message");
            match (message.kind.as_str(), step) {
                ("client_ready", 0) => {
                    identity = frame.get(0).unwrap().to_vec();
                    socket
                        .send(to(&identity, "ack", map(vec![("index", Value::from(0))])))
                        .await
                        .unwrap();
                    let huge = Value::from(1_000_000_000_000_000_000u64);
                    socket
                        .send(to(&identity, "spawn", spawn(1.0, huge, Value::Nil)))
                        .await
                        .unwrap();
                    socket
                        .send(to(
                            &identity,
                            "spawn",
                            spawn(2.0, Value::from(1), Value::F64(f64::INFINITY)),
                        ))
                        .await
                        .unwrap();
                    socket
                        .send(to(
                            &identity,
                            "spawn",
                            spawn(3.0, Value::from(2), Value::F64(0.5)),
                        ))
                        .await
                        .unwrap();
                    step = 1;
                }
                ("spawning_complete", 1) => {
                    socket
                        .send(to(&identity, "quit", Value::Nil))
                        .await
                        .unwrap();
                    break message.data;
                }
                _ => {}
            }
        }
    });
    let run = worker.finish(Duration::from_secs(60));
    assert_eq!(run.code, 0, "{}", run.output());
    for why in [
        "Ignoring a malformed spawn message from the master: user_classes_count.U: expected a whole number from 0 to 10000000, got 1000000000000000000",
        "Ignoring a malformed spawn message from the master: stop_timeout: must be at most 315360000 seconds (10 years), got inf",
    ] {
        assert!(run.stderr.contains(why), "{why}\n{}", run.output());
    }
    assert!(!run.stderr.contains("panicked"), "{}", run.output());
    // The first spawn it could apply is the last one: 2 users.
    let users =
        locusta::distributed::protocol::field(&counts, "user_count").and_then(Value::as_u64);
    assert_eq!(users, Some(2), "{counts}");
}
