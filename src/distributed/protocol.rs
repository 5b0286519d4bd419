//! Locust's master/worker messages: a msgpack array `[type, data, node_id]` in one ZeroMQ
//! frame, with the payload schemas Locust 2.47 reads.
//!
//! A Python peer has no per-message error handling: one missing key or wrong type kills its
//! listener for good. So every payload we send is a typed struct serialized with
//! `rmp_serde::to_vec_named` (maps with field names, as Python's msgpack writes), and the
//! schema tests pin each one down. What we receive is read leniently: unknown keys are ignored
//! and numbers may be int or float.

use std::collections::{BTreeMap, HashMap};

use rmpv::Value;
use serde::{Deserialize, Serialize};

/// One message of the protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub kind: String,
    pub data: Value,
    pub node_id: String,
}

impl Message {
    pub fn new(kind: &str, data: Value, node_id: &str) -> Message {
        Message {
            kind: kind.to_string(),
            data,
            node_id: node_id.to_string(),
        }
    }

    /// A message whose data is a typed payload, written as a map with field names.
    pub fn with<T: Serialize>(kind: &str, payload: &T, node_id: &str) -> Message {
        Message::new(kind, to_value(payload), node_id)
    }

    /// The frame: msgpack `[type, data, node_id]`.
    pub fn encode(&self) -> Vec<u8> {
        let envelope = Value::Array(vec![
            Value::from(self.kind.as_str()),
            self.data.clone(),
            Value::from(self.node_id.as_str()),
        ]);
        let mut out = Vec::with_capacity(64);
        rmpv::encode::write_value(&mut out, &envelope)
            .expect("writing msgpack into a Vec cannot fail");
        out
    }

    /// Reads a frame; anything but a 3-item array with string type is refused, never a panic.
    pub fn decode(frame: &[u8]) -> Result<Message, String> {
        let mut rest = frame;
        let value = rmpv::decode::read_value(&mut rest)
            .map_err(|e| format!("not a msgpack message: {e}"))?;
        let Value::Array(items) = value else {
            return Err("not a [type, data, node_id] array".to_string());
        };
        let [kind, data, node_id]: [Value; 3] = items
            .try_into()
            .map_err(|items: Vec<Value>| format!("{} items instead of 3", items.len()))?;
        let kind = kind
            .as_str()
            .ok_or("the message type is not a string")?
            .to_string();
        let node_id = match node_id {
            Value::String(s) => s.into_str().unwrap_or_default(),
            Value::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
            _ => String::new(),
        };
        Ok(Message {
            kind,
            data,
            node_id,
        })
    }
}

/// A payload as a msgpack value, structs as maps with their field names.
pub fn to_value<T: Serialize>(payload: &T) -> Value {
    let bytes = rmp_serde::to_vec_named(payload).expect("payloads are plain data");
    rmpv::decode::read_value(&mut &bytes[..]).expect("rmp_serde wrote valid msgpack")
}

/// The value of `key` in a msgpack map, if `data` is one and has it.
pub fn field<'a>(data: &'a Value, key: &str) -> Option<&'a Value> {
    data.as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// A number sent as int or float.
pub fn number(value: &Value) -> Option<f64> {
    match value {
        Value::F64(f) => Some(*f),
        Value::F32(f) => Some(f64::from(*f)),
        Value::Integer(i) => i.as_f64(),
        _ => None,
    }
}

/// `{"state", "current_cpu_usage", "current_memory_usage"}`: the first two are required by
/// the Python master, which dies on a heartbeat without them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Heartbeat {
    /// Only "ready", "spawning" or "running": the master dispatches to no other state.
    pub state: &'static str,
    /// Percent of the whole machine (0-100): Locust warns above 90.
    pub current_cpu_usage: f64,
    /// Resident memory in bytes.
    pub current_memory_usage: u64,
}

/// What a worker runs now; `user_classes_count` is required by the master.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SpawningComplete {
    pub user_classes_count: BTreeMap<String, u64>,
    pub user_count: u64,
}

/// The master's `spawn`: absolute user counts per type for this worker. All five keys are
/// required by a Python worker, which stops listening when one is missing.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Spawn {
    /// Strictly increasing: workers drop a spawn older than the last one they applied.
    pub timestamp: f64,
    pub user_classes_count: BTreeMap<String, u64>,
    pub host: Option<String>,
    pub stop_timeout: Option<f64>,
    pub parsed_options: BTreeMap<String, Value>,
}

/// A count sent by a peer: a whole number from 0 to `max`, as int or as a float with no
/// fraction (Python sends either).
pub fn count(value: &Value, max: u64) -> Result<u64, String> {
    let bad = || format!("expected a whole number from 0 to {max}, got {value}");
    if let Some(n) = value.as_u64() {
        return if n <= max { Ok(n) } else { Err(bad()) };
    }
    match number(value) {
        Some(x) if x.fract() == 0.0 && (0.0..=max as f64).contains(&x) => Ok(x as u64),
        _ => Err(bad()),
    }
}

impl Spawn {
    /// Reads a master's spawn: `Err` says why it cannot be applied (a key the worker needs
    /// missing, or a number out of range), and the worker drops it with a warning.
    pub fn read(data: &Value) -> Result<Spawn, String> {
        let counts = field(data, "user_classes_count")
            .and_then(Value::as_map)
            .ok_or("no user_classes_count map")?;
        let mut user_classes_count = BTreeMap::new();
        let mut total: u64 = 0;
        for (k, v) in counts {
            let name = k.as_str().ok_or_else(|| format!("a user type named {k}"))?;
            let n = count(v, crate::limits::MAX_USERS)
                .map_err(|e| format!("user_classes_count.{name}: {e}"))?;
            total = total.saturating_add(n);
            user_classes_count.insert(name.to_string(), n);
        }
        crate::limits::users(total).map_err(|e| format!("user_classes_count: {e}"))?;
        let timestamp = field(data, "timestamp")
            .and_then(number)
            .filter(|t| t.is_finite())
            .ok_or("no timestamp")?;
        let stop_timeout = match field(data, "stop_timeout") {
            None | Some(Value::Nil) => None,
            Some(v) => Some(
                number(v)
                    .ok_or_else(|| format!("stop_timeout: expected seconds, got {v}"))
                    .and_then(|t| crate::limits::seconds(t).map(|_| t))
                    .map_err(|e| format!("stop_timeout: {e}"))?,
            ),
        };
        Ok(Spawn {
            timestamp,
            user_classes_count,
            host: field(data, "host")
                .and_then(Value::as_str)
                .map(str::to_string),
            stop_timeout,
            parsed_options: BTreeMap::new(),
        })
    }

    /// `stop_timeout` as a duration (checked when read).
    pub fn stop_timeout(&self) -> std::time::Duration {
        self.stop_timeout
            .and_then(|t| crate::limits::seconds(t).ok())
            .unwrap_or_default()
    }
}

/// `{"index": n}`: the master's answer to `client_ready`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ack {
    pub index: u64,
}

/// `{"msg", "traceback"}`: a user error for the master's Exceptions tab; both required.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Exception {
    pub msg: String,
    pub traceback: String,
}

/// One endpoint's requests since the last report, as Locust's `StatsEntry.serialize` writes
/// it. Integer map keys are what Python sends (`strict_map_key=False` on its side).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct WireEntry {
    pub name: String,
    pub method: String,
    pub last_request_timestamp: Option<f64>,
    pub start_time: f64,
    pub num_requests: u64,
    pub num_none_requests: u64,
    pub num_failures: u64,
    pub total_response_time: f64,
    pub max_response_time: f64,
    /// `None` without requests: a 0 would drag the master's minimum down.
    pub min_response_time: Option<f64>,
    pub total_content_length: u64,
    /// Locust's rounded milliseconds → count.
    pub response_times: BTreeMap<i64, u64>,
    pub num_reqs_per_sec: BTreeMap<i64, u64>,
    pub num_fail_per_sec: BTreeMap<i64, u64>,
    /// locusta's own addition, ignored by Python (unknown keys are): every response time in
    /// microseconds (three significant digits) as `[[us, count], ...]`, so a locusta master's
    /// percentiles keep the precision of a local run's histograms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locusta_us: Option<Vec<(u32, u32)>>,
}

/// One distinct failure since the last report; `occurrences` is a delta.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WireError {
    pub name: String,
    pub method: String,
    pub error: String,
    pub occurrences: u64,
    pub first_seen: Option<f64>,
    pub last_seen: Option<f64>,
}

/// The worker's `stats` report, every 3 seconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatsReport {
    pub stats: Vec<WireEntry>,
    pub stats_total: WireEntry,
    pub errors: HashMap<String, WireError>,
    /// Required: the master logs a KeyError on every report without it.
    pub user_classes_count: BTreeMap<String, u64>,
    pub user_count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_is_a_three_item_array_and_decodes_back() {
        let m = Message::new("heartbeat", Value::Nil, "vm_9a44");
        let bytes = m.encode();
        // fixarray(3), fixstr(9) "heartbeat", nil, fixstr(7) "vm_9a44": as captured from Locust.
        assert_eq!(bytes[0], 0x93);
        assert_eq!(&bytes[1..11], b"\xa9heartbeat");
        assert_eq!(bytes[11], 0xc0);
        assert_eq!(Message::decode(&bytes).unwrap(), m);
    }

    #[test]
    fn malformed_frames_are_refused_with_a_reason() {
        assert!(Message::decode(b"\xc1garbage").is_err());
        let two = Value::Array(vec![Value::from("x"), Value::Nil]);
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, &two).unwrap();
        assert_eq!(Message::decode(&bytes).unwrap_err(), "2 items instead of 3");
        assert!(Message::decode(&[]).is_err());
    }

    #[test]
    fn payloads_are_maps_with_field_names() {
        let hb = Heartbeat {
            state: "ready",
            current_cpu_usage: 1.5,
            current_memory_usage: 7,
        };
        let v = to_value(&hb);
        assert_eq!(field(&v, "state").and_then(Value::as_str), Some("ready"));
        assert_eq!(field(&v, "current_cpu_usage").and_then(number), Some(1.5));
    }

    #[test]
    fn a_spawn_reads_ints_or_floats_and_ignores_unknown_keys() {
        let data = Value::Map(vec![
            (Value::from("timestamp"), Value::from(1795374119u64)),
            (
                Value::from("user_classes_count"),
                Value::Map(vec![
                    (Value::from("WebUser"), Value::from(3)),
                    (Value::from("ApiUser"), Value::F64(1.0)),
                ]),
            ),
            (Value::from("host"), Value::Nil),
            (Value::from("stop_timeout"), Value::F64(0.5)),
            (Value::from("parsed_options"), Value::Map(vec![])),
            (Value::from("surprise"), Value::from("x")),
        ]);
        let s = Spawn::read(&data).unwrap();
        assert_eq!(s.timestamp, 1795374119.0);
        assert_eq!(s.user_classes_count["WebUser"], 3);
        assert_eq!(s.user_classes_count["ApiUser"], 1);
        assert_eq!(s.host, None);
        assert_eq!(s.stop_timeout, Some(0.5));
        assert!(Spawn::read(&Value::Nil).is_err());
    }

    /// A spawn the worker cannot apply (an absurd count, an infinite stop_timeout) is refused
    /// with the reason, which the worker logs before dropping it.
    #[test]
    fn a_spawn_with_numbers_out_of_range_is_refused() {
        let spawn = |counts: Value, stop_timeout: Value| {
            Spawn::read(&Value::Map(vec![
                (Value::from("timestamp"), Value::F64(1.0)),
                (
                    Value::from("user_classes_count"),
                    Value::Map(vec![(Value::from("WebUser"), counts)]),
                ),
                (Value::from("stop_timeout"), stop_timeout),
            ]))
        };
        assert_eq!(
            spawn(Value::from(3), Value::F64(2.5))
                .unwrap()
                .stop_timeout(),
            std::time::Duration::from_millis(2500)
        );
        assert!(spawn(Value::F64(3.0), Value::Nil).is_ok());
        for (counts, stop) in [
            (Value::from(u64::MAX), Value::Nil),
            (Value::from(-1), Value::Nil),
            (Value::F64(1.5), Value::Nil),
            (Value::F64(f64::NAN), Value::Nil),
            (Value::from("3"), Value::Nil),
            (Value::from(3), Value::F64(f64::INFINITY)),
            (Value::from(3), Value::F64(-1.0)),
            (Value::from(3), Value::F64(1e300)),
            (Value::from(3), Value::from("soon")),
        ] {
            let e = spawn(counts.clone(), stop.clone()).unwrap_err();
            assert!(!e.is_empty(), "{counts} {stop}");
        }
    }
}

/// What Locust 2.47's Python side indexes in each message we send: a missing key or a wrong
/// type there kills its listener, so every payload is checked against these shapes.
#[cfg(test)]
mod schema {
    use super::*;

    #[derive(Clone, Copy, Debug)]
    enum Kind {
        Str,
        Int,
        /// A Python float: msgpack float64.
        Float,
        Map,
        List,
        Nil,
    }

    fn is(value: &Value, kind: Kind) -> bool {
        match kind {
            Kind::Str => value.is_str(),
            Kind::Int => value.is_i64() || value.is_u64(),
            Kind::Float => matches!(value, Value::F64(_)),
            Kind::Map => value.is_map(),
            Kind::List => value.is_array(),
            Kind::Nil => value.is_nil(),
        }
    }

    /// Each key is present with one of the kinds listed.
    fn check(what: &str, value: &Value, keys: &[(&str, &[Kind])]) {
        for (key, kinds) in keys {
            let v = field(value, key).unwrap_or_else(|| panic!("{what}: no `{key}` in {value}"));
            assert!(
                kinds.iter().any(|k| is(v, *k)),
                "{what}: `{key}` is {v}, expected one of {kinds:?}"
            );
        }
    }

    /// A map from strings to ints, as `user_classes_count` must be.
    fn check_counts(what: &str, value: &Value) {
        for (k, v) in value
            .as_map()
            .unwrap_or_else(|| panic!("{what}: not a map"))
        {
            assert!(k.is_str() && v.is_u64(), "{what}: {k}: {v}");
        }
    }

    fn entry_keys() -> Vec<(&'static str, &'static [Kind])> {
        use Kind::*;
        vec![
            ("name", &[Str]),
            ("method", &[Str]),
            ("last_request_timestamp", &[Float, Nil]),
            ("start_time", &[Float]),
            ("num_requests", &[Int]),
            ("num_none_requests", &[Int]),
            ("num_failures", &[Int]),
            ("total_response_time", &[Float, Int]),
            ("max_response_time", &[Float, Int]),
            ("min_response_time", &[Float, Int, Nil]),
            ("total_content_length", &[Int]),
            ("response_times", &[Map]),
            ("num_reqs_per_sec", &[Map]),
            ("num_fail_per_sec", &[Map]),
        ]
    }

    fn int_keyed(what: &str, value: &Value) {
        for (k, v) in value.as_map().unwrap() {
            assert!(k.is_i64() || k.is_u64(), "{what}: key {k} is not an int");
            assert!(v.is_u64(), "{what}: count {v}");
        }
    }

    #[test]
    fn worker_messages_have_what_a_python_master_reads() {
        use Kind::*;
        // client_ready: the int -1 (any other int kills the master's listener).
        let ready = Message::new("client_ready", Value::from(-1), "h_1");
        assert_eq!(
            Message::decode(&ready.encode()).unwrap().data.as_i64(),
            Some(-1)
        );

        let hb = to_value(&Heartbeat {
            state: "running",
            current_cpu_usage: 0.0,
            current_memory_usage: 1 << 20,
        });
        check(
            "heartbeat",
            &hb,
            &[
                ("state", &[Str]),
                ("current_cpu_usage", &[Float]),
                ("current_memory_usage", &[Int]),
            ],
        );

        let done = to_value(&SpawningComplete {
            user_classes_count: BTreeMap::from([("Web".into(), 2), ("Api".into(), 0)]),
            user_count: 2,
        });
        check(
            "spawning_complete",
            &done,
            &[("user_classes_count", &[Map]), ("user_count", &[Int])],
        );
        check_counts(
            "spawning_complete",
            field(&done, "user_classes_count").unwrap(),
        );

        let exception = to_value(&Exception {
            msg: "boom".into(),
            traceback: "at step 1".into(),
        });
        check(
            "exception",
            &exception,
            &[("msg", &[Str]), ("traceback", &[Str])],
        );

        // stats, from the code that builds it, with and without requests.
        for drained in [Vec::new(), vec![sample_drained()]] {
            let report = crate::distributed::wire::report(
                drained,
                1000.0,
                BTreeMap::from([("Web".into(), 1)]),
            );
            let v = to_value(&report);
            check(
                "stats",
                &v,
                &[
                    ("stats", &[List]),
                    ("stats_total", &[Map]),
                    ("errors", &[Map]),
                    ("user_classes_count", &[Map]),
                    ("user_count", &[Int]),
                ],
            );
            check_counts("stats", field(&v, "user_classes_count").unwrap());
            let total = field(&v, "stats_total").unwrap();
            check("stats_total", total, &entry_keys());
            for e in field(&v, "stats").unwrap().as_array().unwrap() {
                check("stats entry", e, &entry_keys());
                for key in ["response_times", "num_reqs_per_sec", "num_fail_per_sec"] {
                    int_keyed(key, field(e, key).unwrap());
                }
            }
            for (key, e) in field(&v, "errors").unwrap().as_map().unwrap() {
                assert!(key.is_str());
                check(
                    "error",
                    e,
                    &[
                        ("name", &[Str]),
                        ("method", &[Str]),
                        ("error", &[Str]),
                        ("occurrences", &[Int]),
                        ("first_seen", &[Float]),
                        ("last_seen", &[Float]),
                    ],
                );
            }
            if report.stats.is_empty() {
                assert!(field(total, "min_response_time").unwrap().is_nil());
            }
        }
    }

    #[test]
    fn master_messages_have_what_a_python_worker_reads() {
        use Kind::*;
        let ack = to_value(&Ack { index: 0 });
        check("ack", &ack, &[("index", &[Int])]);
        // All five keys, or the Python worker stops listening.
        let spawn = to_value(&Spawn {
            timestamp: 1795374119.857,
            user_classes_count: BTreeMap::from([("Web".into(), 3)]),
            host: None,
            stop_timeout: Some(0.0),
            parsed_options: BTreeMap::new(),
        });
        check(
            "spawn",
            &spawn,
            &[
                ("timestamp", &[Float]),
                ("user_classes_count", &[Map]),
                ("host", &[Str, Nil]),
                ("stop_timeout", &[Float, Nil]),
                ("parsed_options", &[Map]),
            ],
        );
        check_counts("spawn", field(&spawn, "user_classes_count").unwrap());
    }

    fn sample_drained() -> crate::stats::Drained {
        crate::stats::Drained {
            method: "GET".into(),
            name: "/a".into(),
            requests: 2,
            failures: 1,
            total_response_time: 3.5,
            min_response_time: 1.0,
            max_response_time: 2.5,
            content_length: 20,
            last_timestamp: 1000.5,
            samples: vec![1000, 2500],
            per_second: vec![(1000, 2, 1)],
            errors: vec![crate::stats::StatsError {
                method: "GET".into(),
                name: "/a".into(),
                error: "HTTPError('500 Server Error')".into(),
                occurrences: 1,
                first_seen: 1000.2,
                last_seen: 1000.2,
            }],
        }
    }
}
