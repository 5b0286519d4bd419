//! Statistics in Locust's serialized form: what a worker reports every 3 seconds, built from
//! the requests recorded since the last report (the master adds the deltas up).

use std::collections::{BTreeMap, HashMap};

use rmpv::Value;

use super::protocol::{StatsReport, WireEntry, WireError, field, number};
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

/// A map with integer (or float) keys and counts: `{7: 5, 120: 1}`.
fn int_map(value: Option<&Value>) -> Vec<(f64, u64)> {
    value
        .and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((number(k)?, number(v)?.max(0.0) as u64)))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads one serialized entry, from a Python or a locusta worker. Response times come from
/// locusta's exact microseconds when present, else from Locust's rounded buckets.
fn read_entry(data: &Value) -> Option<Drained> {
    let text = |key: &str| field(data, key).and_then(Value::as_str).map(str::to_string);
    let num = |key: &str| field(data, key).and_then(number);
    let requests = num("num_requests")?.max(0.0) as u64;
    let samples: Vec<u32> = match field(data, "locusta_us").and_then(Value::as_array) {
        Some(pairs) => pairs
            .iter()
            .filter_map(|p| {
                let p = p.as_array()?;
                Some((number(p.first()?)? as u32, number(p.get(1)?)? as usize))
            })
            .flat_map(|(us, n)| std::iter::repeat_n(us, n))
            .collect(),
        None => int_map(field(data, "response_times"))
            .into_iter()
            .flat_map(|(ms, n)| std::iter::repeat_n((ms * 1000.0) as u32, n as usize))
            .collect(),
    };
    let mut per_second: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for (sec, n) in int_map(field(data, "num_reqs_per_sec")) {
        per_second.entry(sec as u64).or_default().0 += n;
    }
    for (sec, n) in int_map(field(data, "num_fail_per_sec")) {
        per_second.entry(sec as u64).or_default().1 += n;
    }
    let last = num("last_request_timestamp");
    Some(Drained {
        method: text("method").unwrap_or_default(),
        name: text("name")?,
        requests,
        failures: num("num_failures").unwrap_or(0.0).max(0.0) as u64,
        total_response_time: num("total_response_time").unwrap_or(0.0),
        min_response_time: num("min_response_time").unwrap_or(0.0),
        max_response_time: num("max_response_time").unwrap_or(0.0),
        content_length: num("total_content_length").unwrap_or(0.0).max(0.0) as u64,
        last_timestamp: last.or_else(|| per_second.keys().last().map(|s| *s as f64))?,
        samples,
        per_second: per_second
            .into_iter()
            .map(|(sec, (reqs, fails))| (sec, reqs, fails))
            .collect(),
        errors: Vec::new(),
    })
}

/// What a worker's `stats` message holds: its entries (errors attached to the first) and the
/// users it runs now. Unreadable entries are skipped, never fatal.
pub fn read_report(data: &Value) -> (Vec<Drained>, Option<BTreeMap<String, u64>>) {
    let mut entries: Vec<Drained> = field(data, "stats")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(read_entry).collect())
        .unwrap_or_default();
    let errors: Vec<StatsError> = field(data, "errors")
        .and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .filter_map(|(_, e)| {
                    let text = |key: &str| field(e, key).and_then(Value::as_str);
                    let seen = |key: &str| field(e, key).and_then(number);
                    Some(StatsError {
                        method: text("method")?.to_string(),
                        name: text("name")?.to_string(),
                        error: text("error")?.to_string(),
                        occurrences: seen("occurrences")?.max(0.0) as u64,
                        first_seen: seen("first_seen").unwrap_or(0.0),
                        last_seen: seen("last_seen").unwrap_or(0.0),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
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
    let users = field(data, "user_classes_count")
        .and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), number(v)?.max(0.0) as u64)))
                .collect()
        });
    (entries, users)
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
        let (entries, users) = read_report(&value);
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
        }));
        assert_eq!(entries[0].samples, [150_000]);
    }

    #[test]
    fn an_idle_interval_sends_no_entries_and_a_nil_minimum() {
        let report = report(Vec::new(), 5.0, BTreeMap::new());
        assert!(report.stats.is_empty());
        assert_eq!(report.stats_total.min_response_time, None);
        assert_eq!(report.stats_total.num_requests, 0);
    }
}
