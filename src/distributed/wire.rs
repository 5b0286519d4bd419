//! Statistics in Locust's serialized form: what a worker reports every 3 seconds, built from
//! the requests recorded since the last report (the master adds the deltas up).

use std::collections::{BTreeMap, HashMap};

use rmpv::Value;

use super::protocol::{StatsReport, WireEntry, WireError, count, field, number};
use crate::stats::{Drained, StatsError};

/// Locust's `bucket_response_time`: about two significant digits of milliseconds, rounded
/// half to even as Python's `round` does.
pub fn bucket_ms(ms: f64) -> i64 {
    let step = if ms < 100.0 {
        1.0
    } else if ms < 1_000.0 {
        10.0
    } else if ms < 10_000.0 {
        100.0
    } else {
        1_000.0
    };
    ((ms / step).round_ties_even() * step) as i64
}

/// Adds one shard's requests of an endpoint to its wire entry.
fn add(entry: &mut WireEntry, d: &Drained, samples: &mut Vec<u32>) {
    entry.num_requests += d.requests;
    entry.num_failures += d.failures;
    entry.total_response_time += d.total_response_time;
    entry.max_response_time = entry.max_response_time.max(d.max_response_time);
    entry.min_response_time = Some(
        entry
            .min_response_time
            .map_or(d.min_response_time, |m| m.min(d.min_response_time)),
    );
    entry.total_content_length += d.content_length;
    entry.last_request_timestamp = Some(
        entry
            .last_request_timestamp
            .map_or(d.last_timestamp, |t| t.max(d.last_timestamp)),
    );
    for &us in &d.samples {
        *entry
            .response_times
            .entry(bucket_ms(f64::from(us) / 1000.0))
            .or_default() += 1;
    }
    samples.extend_from_slice(&d.samples);
    for &(sec, reqs, fails) in &d.per_second {
        *entry.num_reqs_per_sec.entry(sec as i64).or_default() += reqs;
        if fails > 0 {
            *entry.num_fail_per_sec.entry(sec as i64).or_default() += fails;
        }
    }
}

/// Three significant digits of microseconds (the precision of the master's histograms), so
/// a report holds at most a few thousand distinct values however many requests it covers.
fn three_digits(us: u32) -> u32 {
    let mut scale = 1;
    while us / scale >= 1000 {
        scale *= 10;
    }
    us / scale * scale
}

/// Sorted, run-length encoded microseconds, to three significant digits.
fn run_lengths(mut samples: Vec<u32>) -> Vec<(u32, u32)> {
    samples.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::new();
    for v in samples.into_iter().map(three_digits) {
        match out.last_mut() {
            Some((last, n)) if *last == v => *n += 1,
            _ => out.push((v, 1)),
        }
    }
    out
}

fn blank(name: &str, method: &str, start_time: f64) -> WireEntry {
    WireEntry {
        name: name.to_string(),
        method: method.to_string(),
        start_time,
        ..WireEntry::default()
    }
}

/// The `stats` report for the requests drained since `interval_start`, with the users the
/// worker runs now.
pub fn report(
    drained: Vec<Drained>,
    interval_start: f64,
    user_classes_count: BTreeMap<String, u64>,
) -> StatsReport {
    let mut entries: BTreeMap<(String, String), (WireEntry, Vec<u32>)> = BTreeMap::new();
    let mut total = blank("Aggregated", "", interval_start);
    let mut total_samples = Vec::new();
    let mut errors: HashMap<String, WireError> = HashMap::new();
    for d in drained {
        let (entry, samples) = entries
            .entry((d.name.clone(), d.method.clone()))
            .or_insert_with(|| (blank(&d.name, &d.method, interval_start), Vec::new()));
        add(entry, &d, samples);
        add(&mut total, &d, &mut total_samples);
        for e in d.errors {
            let key: String = e.locust_key().iter().map(|b| format!("{b:02x}")).collect();
            let w = errors.entry(key).or_insert_with(|| WireError {
                name: e.name.clone(),
                method: e.method.clone(),
                error: e.error.clone(),
                occurrences: 0,
                first_seen: Some(e.first_seen),
                last_seen: Some(e.last_seen),
            });
            w.occurrences += e.occurrences;
            w.first_seen = w.first_seen.map(|f| f.min(e.first_seen));
            w.last_seen = w.last_seen.map(|l| l.max(e.last_seen));
        }
    }
    total.locusta_us = Some(run_lengths(total_samples));
    let stats = entries
        .into_values()
        .map(|(mut entry, samples)| {
            entry.locusta_us = Some(run_lengths(samples));
            entry
        })
        .collect();
    let user_count = user_classes_count.values().sum();
    StatsReport {
        stats,
        stats_total: total,
        errors,
        user_classes_count,
        user_count,
    }
}

/// The most requests one worker report may count. A report covers 3 seconds: 20 million is
/// 6.7 million requests a second from one worker, some 30 times what one locusta core sends
/// (bench/perf.py: ~110,000 a CPU-second) and hundreds of times a Python worker. Counts past
/// it come from a broken or hostile peer; the samples they expand to (4 bytes each, so at
/// most 80 MB here) must not exhaust the master.
const MAX_REPORTED: u64 = 20_000_000;

/// A number sent by a peer that must be finite and 0 or more (a response time, a timestamp).
fn non_negative(value: &Value, key: &str) -> Result<f64, String> {
    match number(value) {
        Some(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("{key}: expected a number 0 or more, got {value}")),
    }
}

/// A map with number keys and counts: `{7: 5, 120: 1}`; keys finite and 0 or more.
fn int_map(value: Option<&Value>, key: &str) -> Result<Vec<(f64, u64)>, String> {
    let Some(map) = value.and_then(Value::as_map) else {
        return Ok(Vec::new());
    };
    map.iter()
        .map(|(k, v)| {
            let at = format!("{key}[{k}]");
            Ok((
                non_negative(k, &at)?,
                count(v, MAX_REPORTED).map_err(|e| format!("{at}: {e}"))?,
            ))
        })
        .collect()
}

/// Microseconds from a peer's milliseconds: at most `u32::MAX` (71 minutes), as recorded.
fn micros(ms: f64) -> u32 {
    (ms * 1000.0).round().min(f64::from(u32::MAX)) as u32
}

/// Response times as (microseconds, count): locusta's exact ones when present, else Locust's
/// rounded buckets. Together they may count no more than the entry's requests.
fn read_samples(data: &Value, requests: u64) -> Result<Vec<u32>, String> {
    let pairs: Vec<(u32, u64)> = match field(data, "locusta_us").and_then(Value::as_array) {
        Some(pairs) => pairs
            .iter()
            .map(|p| {
                let pair = p.as_array().filter(|p| p.len() == 2);
                let pair =
                    pair.ok_or_else(|| format!("locusta_us: expected [us, count], got {p}"))?;
                let us =
                    count(&pair[0], u64::from(u32::MAX)).map_err(|e| format!("locusta_us: {e}"))?;
                let n = count(&pair[1], MAX_REPORTED).map_err(|e| format!("locusta_us: {e}"))?;
                Ok((us as u32, n))
            })
            .collect::<Result<_, String>>()?,
        None => int_map(field(data, "response_times"), "response_times")?
            .into_iter()
            .map(|(ms, n)| (micros(ms), n))
            .collect(),
    };
    let total = pairs
        .iter()
        .fold(0u64, |sum, (_, n)| sum.saturating_add(*n));
    if total > requests {
        return Err(format!("{total} response times for {requests} requests"));
    }
    Ok(pairs
        .into_iter()
        .flat_map(|(us, n)| std::iter::repeat_n(us, n as usize))
        .collect())
}

/// Reads one serialized entry, from a Python or a locusta worker: `Err` names the first
/// field out of range.
fn read_entry(data: &Value) -> Result<Drained, String> {
    let text = |key: &str| field(data, key).and_then(Value::as_str).map(str::to_string);
    let name = text("name").ok_or("an entry without a name")?;
    let at = |e: String| format!("entry {name:?}: {e}");
    let num = |key: &str| -> Result<f64, String> {
        match field(data, key) {
            None | Some(Value::Nil) => Ok(0.0),
            Some(v) => non_negative(v, key),
        }
    };
    let counted = |key: &str| -> Result<u64, String> {
        field(data, key).map_or(Ok(0), |v| {
            count(v, MAX_REPORTED).map_err(|e| format!("{key}: {e}"))
        })
    };
    let requests = counted("num_requests").map_err(at)?;
    let samples = read_samples(data, requests).map_err(at)?;
    let mut per_second: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for (sec, n) in int_map(field(data, "num_reqs_per_sec"), "num_reqs_per_sec").map_err(at)? {
        let slot = per_second.entry(sec as u64).or_default();
        slot.0 = slot.0.saturating_add(n);
    }
    for (sec, n) in int_map(field(data, "num_fail_per_sec"), "num_fail_per_sec").map_err(at)? {
        let slot = per_second.entry(sec as u64).or_default();
        slot.1 = slot.1.saturating_add(n);
    }
    let last = match field(data, "last_request_timestamp") {
        None | Some(Value::Nil) => per_second.keys().last().map(|s| *s as f64),
        Some(v) => Some(non_negative(v, "last_request_timestamp").map_err(at)?),
    };
    Ok(Drained {
        method: text("method").unwrap_or_default(),
        requests,
        failures: counted("num_failures").map_err(at)?,
        total_response_time: num("total_response_time").map_err(at)?,
        min_response_time: num("min_response_time").map_err(at)?,
        max_response_time: num("max_response_time").map_err(at)?,
        content_length: counted("total_content_length").map_err(at)?,
        last_timestamp: last.ok_or_else(|| at("no last_request_timestamp".to_string()))?,
        samples,
        per_second: per_second
            .into_iter()
            .map(|(sec, (reqs, fails))| (sec, reqs, fails))
            .collect(),
        errors: Vec::new(),
        name,
    })
}

fn read_error(e: &Value) -> Result<StatsError, String> {
    let text = |key: &str| {
        field(e, key)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("an error without {key}"))
    };
    let seen = |key: &str| match field(e, key) {
        None | Some(Value::Nil) => Ok(0.0),
        Some(v) => non_negative(v, key),
    };
    let occurrences = field(e, "occurrences").ok_or("an error without occurrences")?;
    Ok(StatsError {
        method: text("method")?,
        name: text("name")?,
        error: text("error")?,
        occurrences: count(occurrences, MAX_REPORTED).map_err(|e| format!("occurrences: {e}"))?,
        first_seen: seen("first_seen")?,
        last_seen: seen("last_seen")?,
    })
}

/// A worker's entries, and its users per type when the message says.
pub type Report = (Vec<Drained>, Option<BTreeMap<String, u64>>);

/// What a worker's `stats` (or `spawning_complete`) message holds: its entries (errors
/// attached to the first) and the users it runs now. A message with a number out of range is
/// refused whole (`Err` says where), so one broken peer cannot skew or exhaust the master.
pub fn read_report(data: &Value) -> Result<Report, String> {
    let mut entries: Vec<Drained> = match field(data, "stats").and_then(Value::as_array) {
        Some(list) => list.iter().map(read_entry).collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let errors: Vec<StatsError> = match field(data, "errors").and_then(Value::as_map) {
        Some(m) => m
            .iter()
            .map(|(_, e)| read_error(e))
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    if !errors.is_empty() {
        match entries.first_mut() {
            Some(first) => first.errors = errors,
            None => entries.push(Drained {
                method: String::new(),
                name: String::new(),
                requests: 0,
                failures: 0,
                total_response_time: 0.0,
                min_response_time: 0.0,
                max_response_time: 0.0,
                content_length: 0,
                last_timestamp: 0.0,
                samples: Vec::new(),
                per_second: Vec::new(),
                errors,
            }),
        }
    }
    let users = match field(data, "user_classes_count").and_then(Value::as_map) {
        Some(m) => Some(
            m.iter()
                .map(|(k, v)| {
                    let name = k.as_str().ok_or_else(|| format!("a user type named {k}"))?;
                    let n = count(v, crate::limits::MAX_USERS)
                        .map_err(|e| format!("user_classes_count.{name}: {e}"))?;
                    Ok((name.to_string(), n))
                })
                .collect::<Result<_, String>>()?,
        ),
        None => None,
    };
    Ok((entries, users))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microseconds_travel_to_three_significant_digits() {
        assert_eq!(three_digits(999), 999);
        assert_eq!(three_digits(1234), 1230);
        assert_eq!(three_digits(98_765), 98_700);
        assert_eq!(three_digits(u32::MAX), 4_290_000_000);
        let rl = run_lengths(vec![1234, 1239, 5, 1240]);
        assert_eq!(rl, [(5, 1), (1230, 2), (1240, 1)]);
    }

    #[test]
    fn buckets_follow_locusts_rounding() {
        // Python: round(rt) below 100 ms, then to 10, 100, 1000 ms; halves go to even.
        let cases = [
            (7.4, 7),
            (7.5, 8),
            (8.5, 8),
            (99.4, 99),
            (147.0, 150),
            (125.0, 120),
            (135.0, 140),
            (3432.0, 3400),
            (58760.0, 59000),
            (0.2, 0),
        ];
        for (ms, bucket) in cases {
            assert_eq!(bucket_ms(ms), bucket, "{ms} ms");
        }
    }

    fn drained(name: &str, samples_ms: &[f64], error: Option<&str>) -> Drained {
        let samples: Vec<u32> = samples_ms.iter().map(|ms| (ms * 1000.0) as u32).collect();
        let n = samples.len() as u64;
        Drained {
            method: "GET".into(),
            name: name.into(),
            requests: n,
            failures: u64::from(error.is_some()) * n,
            total_response_time: samples_ms.iter().sum(),
            min_response_time: samples_ms.iter().cloned().fold(f64::MAX, f64::min),
            max_response_time: samples_ms.iter().cloned().fold(0.0, f64::max),
            content_length: 10 * n,
            last_timestamp: 1000.5,
            samples,
            per_second: vec![(1000, n, u64::from(error.is_some()) * n)],
            errors: error
                .map(|e| crate::stats::StatsError {
                    method: "GET".into(),
                    name: name.into(),
                    error: e.into(),
                    occurrences: n,
                    first_seen: 1000.1,
                    last_seen: 1000.4,
                })
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn shards_of_one_endpoint_merge_and_the_total_adds_everything() {
        let report = report(
            vec![
                drained("/a", &[1.0, 2.0], None),
                drained("/b", &[150.0], Some("HTTPError('500 Server Error')")),
                drained("/a", &[1.0], None),
            ],
            999.0,
            BTreeMap::from([("Web".to_string(), 3)]),
        );
        assert_eq!(report.stats.len(), 2);
        let a = &report.stats[0];
        assert_eq!((a.name.as_str(), a.num_requests), ("/a", 3));
        assert_eq!(a.response_times, BTreeMap::from([(1, 2), (2, 1)]));
        assert_eq!(a.min_response_time, Some(1.0));
        assert_eq!(a.locusta_us, Some(vec![(1000, 2), (2000, 1)]));
        assert_eq!(a.num_reqs_per_sec, BTreeMap::from([(1000, 3)]));
        assert!(a.num_fail_per_sec.is_empty());
        let t = &report.stats_total;
        assert_eq!((t.num_requests, t.num_failures), (4, 1));
        assert_eq!(t.total_response_time, 154.0);
        assert_eq!(t.start_time, 999.0);
        assert_eq!(report.user_count, 3);
        // Python 2.47's key for this failure: sha256(f"{method}.{name}.{error!r}").
        let (key, e) = report.errors.iter().next().unwrap();
        assert_eq!(
            key,
            "2780f2258ef787e3960416b4d5f073276200b4d69e2f1c082f8133bdd0651d53"
        );
        assert_eq!((e.occurrences, e.first_seen), (1, Some(1000.1)));
    }

    #[test]
    fn a_report_reads_back_exactly_and_python_buckets_become_samples() {
        let sent = report(
            vec![
                drained("/a", &[1.25, 2.5], None),
                drained("/b", &[150.0], Some("HTTPError('500 Server Error')")),
            ],
            999.0,
            BTreeMap::from([("Web".to_string(), 2)]),
        );
        let value = super::super::protocol::to_value(&sent);
        let (entries, users) = read_report(&value).unwrap();
        assert_eq!(users, Some(BTreeMap::from([("Web".to_string(), 2)])));
        let a = entries.iter().find(|e| e.name == "/a").unwrap();
        assert_eq!((a.requests, a.min_response_time), (2, 1.25));
        assert_eq!(
            a.samples,
            [1250, 2500],
            "exact, from locusta's microseconds"
        );
        assert_eq!(a.per_second, [(1000, 2, 0)]);
        let errors: Vec<_> = entries.iter().flat_map(|e| &e.errors).collect();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].occurrences, 1);

        // A Python worker's entry: only the rounded buckets.
        let mut python = sent.stats[1].clone();
        python.locusta_us = None;
        let (entries, _) = read_report(&super::super::protocol::to_value(&StatsReport {
            stats: vec![python],
            ..sent
        }))
        .unwrap();
        assert_eq!(entries[0].samples, [150_000]);
    }

    #[test]
    fn an_idle_interval_sends_no_entries_and_a_nil_minimum() {
        let report = report(Vec::new(), 5.0, BTreeMap::new());
        assert!(report.stats.is_empty());
        assert_eq!(report.stats_total.min_response_time, None);
        assert_eq!(report.stats_total.num_requests, 0);
    }

    /// A peer's numbers, from the sane to the hostile.
    fn wire_number() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        prop_oneof![
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::F64),
            proptest::sample::select(vec![
                0.0,
                -1.0,
                1e300,
                f64::INFINITY,
                f64::NAN,
                4_294_967_296.0,
                2.5
            ])
            .prop_map(Value::F64),
            (0u64..1000).prop_map(Value::from),
            Just(Value::Nil),
            Just(Value::from("7")),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 3000, failure_persistence: None, ..Default::default() })]

        /// A stats message with any number in any field is read or refused, never a panic, and
        /// what is read holds no more samples than requests, all of them within range.
        #[test]
        fn a_report_with_any_numbers_is_read_or_refused(
            key in proptest::sample::select(vec![
                "num_requests", "num_failures", "total_response_time", "min_response_time",
                "max_response_time", "total_content_length", "last_request_timestamp",
                "response_times", "response_times_key", "num_reqs_per_sec", "locusta_us",
                "locusta_us_count", "occurrences", "user_count",
            ]),
            n in wire_number(),
        ) {
            let mut entry = vec![
                (Value::from("name"), Value::from("/")),
                (Value::from("method"), Value::from("GET")),
                (Value::from("num_requests"), Value::from(3)),
                (Value::from("last_request_timestamp"), Value::F64(1000.0)),
                (Value::from("response_times"), Value::Map(vec![(Value::from(7), Value::from(3))])),
            ];
            let set = |entry: &mut Vec<(Value, Value)>, k: &str, v: Value| {
                entry.retain(|(key, _)| key.as_str() != Some(k));
                entry.push((Value::from(k), v));
            };
            match key {
                "response_times" => set(&mut entry, key, Value::Map(vec![(Value::from(7), n.clone())])),
                "response_times_key" => set(&mut entry, "response_times", Value::Map(vec![(n.clone(), Value::from(1))])),
                "num_reqs_per_sec" => set(&mut entry, key, Value::Map(vec![(n.clone(), n.clone())])),
                "locusta_us" => set(&mut entry, key, Value::Array(vec![Value::Array(vec![n.clone(), Value::from(1)])])),
                "locusta_us_count" => set(&mut entry, "locusta_us", Value::Array(vec![Value::Array(vec![Value::from(5), n.clone()])])),
                "occurrences" | "user_count" => {}
                _ => set(&mut entry, key, n.clone()),
            }
            let error = Value::Map(vec![
                (Value::from("method"), Value::from("GET")),
                (Value::from("name"), Value::from("/")),
                (Value::from("error"), Value::from("boom")),
                (Value::from("occurrences"), if key == "occurrences" { n.clone() } else { Value::from(1) }),
            ]);
            let users = if key == "user_count" { n.clone() } else { Value::from(2) };
            let message = Value::Map(vec![
                (Value::from("stats"), Value::Array(vec![Value::Map(entry)])),
                (Value::from("errors"), Value::Map(vec![(Value::from("k"), error)])),
                (Value::from("user_classes_count"), Value::Map(vec![(Value::from("A"), users)])),
            ]);
            if let Ok((entries, users)) = read_report(&message) {
                for e in &entries {
                    proptest::prop_assert!(e.samples.len() as u64 <= e.requests);
                    proptest::prop_assert!(e.requests <= MAX_REPORTED);
                    for x in [e.total_response_time, e.min_response_time, e.max_response_time, e.last_timestamp] {
                        proptest::prop_assert!(x.is_finite() && x >= 0.0, "{x}");
                    }
                }
                for n in users.unwrap_or_default().values() {
                    proptest::prop_assert!(*n <= crate::limits::MAX_USERS);
                }
            }
        }
    }
}
