//! Request statistics: per-endpoint entries, failures and user errors, with Locust's semantics.
//!
//! Users record through [`Stats::record`] (sharded, see `recorder`); reports read a
//! [`RequestStats`] obtained from [`Stats::collect`], which first folds every shard in.

mod entry;
pub mod history;
mod recorder;

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

pub use entry::{CURRENT_WINDOW_SECS, PERCENTILES_TO_REPORT, StatsEntry, values_at_ranks};
pub use recorder::RequestSample;

use entry::Batch;
use parking_lot::{Mutex, MutexGuard};
use recorder::Shards;

/// Wall-clock now as Unix seconds, the unit of every timestamp Locust writes.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// One distinct (method, name, error) failure.
#[derive(Debug, Clone)]
pub struct StatsError {
    pub method: String,
    pub name: String,
    pub error: String,
    pub occurrences: u64,
    pub first_seen: f64,
    pub last_seen: f64,
}

impl StatsError {
    /// Locust's identity of a failure, `sha256("{method}.{name}.{repr(error)}")`: it orders the
    /// failures file, and it keys a worker's errors so that the same failure from Python and
    /// locusta workers merges into one row on the master.
    pub fn locust_key(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let key = format!(
            "{}.{}.{}",
            self.method,
            self.name,
            crate::pyfmt::str_repr(&self.error)
        );
        Sha256::digest(key.as_bytes()).into()
    }
}

/// A user error: something in the scenario went wrong outside a request (Locust's exceptions).
#[derive(Debug, Clone)]
pub struct ExceptionEntry {
    pub count: u64,
    pub message: String,
    /// Where it happened; for Locust this is a Python traceback.
    pub traceback: String,
}

/// One endpoint's requests from one shard since the last [`Stats::drain`].
#[derive(Debug, Clone)]
pub struct Drained {
    pub method: String,
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    pub total_response_time: f64,
    pub min_response_time: f64,
    pub max_response_time: f64,
    pub content_length: u64,
    pub last_timestamp: f64,
    /// Response times in microseconds, unsorted.
    pub samples: Vec<u32>,
    /// (epoch second, requests, failures).
    pub per_second: Vec<(u64, u64, u64)>,
    pub errors: Vec<StatsError>,
}

/// The cumulative statistics of a run.
#[derive(Debug, Clone)]
pub struct RequestStats {
    /// name → method → entry: iterating yields Locust's (name, method) order.
    entries: BTreeMap<String, BTreeMap<String, StatsEntry>>,
    pub total: StatsEntry,
    errors: Vec<StatsError>,
    error_index: HashMap<(String, String, String), usize>,
    exceptions: Vec<ExceptionEntry>,
    exception_index: HashMap<String, usize>,
    pub start_time: f64,
}

impl RequestStats {
    pub fn new(start_time: f64) -> Self {
        RequestStats {
            entries: BTreeMap::new(),
            total: StatsEntry::new("", "Aggregated", start_time),
            errors: Vec::new(),
            error_index: HashMap::new(),
            exceptions: Vec::new(),
            exception_index: HashMap::new(),
            start_time,
        }
    }

    /// Entries in Locust's row order: by name, then method.
    pub fn entries(&self) -> impl Iterator<Item = &StatsEntry> {
        self.entries.values().flat_map(|m| m.values())
    }

    pub fn entry(&self, method: &str, name: &str) -> Option<&StatsEntry> {
        self.entries.get(name).and_then(|m| m.get(method))
    }

    fn entry_mut(&mut self, method: &str, name: &str) -> &mut StatsEntry {
        let start = self.start_time;
        if !self.entries.contains_key(name) {
            self.entries.insert(name.to_string(), BTreeMap::new());
        }
        let methods = self.entries.get_mut(name).expect("inserted above");
        if !methods.contains_key(method) {
            methods.insert(method.to_string(), StatsEntry::new(method, name, start));
        }
        methods.get_mut(method).expect("inserted above")
    }

    /// Failures in first-seen order (the console's error report order).
    pub fn errors(&self) -> &[StatsError] {
        &self.errors
    }

    pub fn exceptions(&self) -> &[ExceptionEntry] {
        &self.exceptions
    }

    /// Whether the run should exit with `--exit-code-on-error` (Locust: any failure or error).
    pub fn has_failures(&self) -> bool {
        !self.errors.is_empty() || !self.exceptions.is_empty()
    }

    /// Locust's total rate: requests over the run's span from start to its last request.
    pub fn total_rates(&self, entry: &StatsEntry) -> (f64, f64) {
        let Some(last) = self.total.last_request_timestamp else {
            return (0.0, 0.0);
        };
        let span = last - self.total.start_time;
        if span <= 0.0 {
            return (0.0, 0.0);
        }
        (
            entry.num_requests as f64 / span,
            entry.num_failures as f64 / span,
        )
    }

    /// Locust's "current" rate (the mean of recent whole seconds), see `StatsEntry::current_rates`.
    pub fn current_rates(&self, entry: &StatsEntry) -> (f64, f64) {
        entry.current_rates(self.total.start_time, self.total.last_request_timestamp)
    }

    fn add_error(&mut self, e: StatsError) {
        let key = (e.method.clone(), e.name.clone(), e.error.clone());
        match self.error_index.get(&key) {
            Some(&i) => {
                let s = &mut self.errors[i];
                s.occurrences += e.occurrences;
                s.first_seen = s.first_seen.min(e.first_seen);
                s.last_seen = s.last_seen.max(e.last_seen);
            }
            None => {
                self.error_index.insert(key, self.errors.len());
                self.errors.push(e);
            }
        }
    }

    fn add_exception(&mut self, message: &str, traceback: &str) -> u64 {
        match self.exception_index.get(traceback) {
            Some(&i) => {
                self.exceptions[i].count += 1;
                self.exceptions[i].count
            }
            None => {
                self.exception_index
                    .insert(traceback.to_string(), self.exceptions.len());
                self.exceptions.push(ExceptionEntry {
                    count: 1,
                    message: message.to_string(),
                    traceback: traceback.to_string(),
                });
                1
            }
        }
    }

    /// `--reset-stats`: counters start over, rows and exceptions stay (as in Locust).
    fn reset(&mut self, now: f64) {
        self.start_time = now;
        for methods in self.entries.values_mut() {
            for e in methods.values_mut() {
                e.reset(now);
            }
        }
        self.total.reset(now);
        self.errors.clear();
        self.error_index.clear();
    }
}

/// The statistics of a run: sharded recording plus the cumulative state behind one lock.
pub struct Stats {
    shards: Shards,
    state: Mutex<RequestStats>,
}

impl Stats {
    /// `shards` should be at least the number of threads that record.
    pub fn new(shards: usize, start_time: f64) -> Self {
        Stats {
            shards: Shards::new(shards),
            state: Mutex::new(RequestStats::new(start_time)),
        }
    }

    #[inline]
    pub fn record(&self, sample: &RequestSample<'_>) {
        self.shards.record(sample);
    }

    /// Records a user error and returns how often it has happened. Rare by nature, so it
    /// goes straight to the shared state.
    pub fn record_exception(&self, message: &str, traceback: &str) -> u64 {
        self.state.lock().add_exception(message, traceback)
    }

    /// Folds every shard into the cumulative state and returns it, locked. Each call closes a
    /// tick of the "current" window, so call it on a steady cadence (the 1 s writer does).
    pub fn collect(&self) -> MutexGuard<'_, RequestStats> {
        let now = unix_now();
        let mut state = self.state.lock();
        let first_new_error = state.errors.len();
        for mut shard in self.shards.take() {
            for (name, methods) in shard.iter_mut() {
                for (method, delta) in methods.iter_mut() {
                    if delta.is_empty() {
                        continue;
                    }
                    let batch = Batch {
                        requests: delta.requests,
                        failures: delta.failures,
                        total_response_time: delta.total_response_time,
                        min_response_time: delta.min_response_time,
                        max_response_time: delta.max_response_time,
                        content_length: delta.content_length,
                        last_timestamp: delta.last_timestamp,
                        samples: &delta.samples,
                        per_second: &delta.per_second,
                    };
                    state.entry_mut(method, name).absorb(&batch);
                    state.total.absorb(&batch);
                    for (error, e) in delta.errors.drain() {
                        state.add_error(StatsError {
                            method: method.to_string(),
                            name: name.to_string(),
                            error: error.into_string(),
                            occurrences: e.occurrences,
                            first_seen: e.first_seen,
                            last_seen: e.last_seen,
                        });
                    }
                    delta.clear();
                }
            }
        }
        // Errors first seen in this tick came from several shards: order them by time.
        let state_ref = &mut *state;
        if state_ref.errors.len() > first_new_error + 1 {
            state_ref.errors[first_new_error..]
                .sort_by(|a, b| a.first_seen.total_cmp(&b.first_seen));
            for (i, e) in state_ref.errors.iter().enumerate().skip(first_new_error) {
                let key = (e.method.clone(), e.name.clone(), e.error.clone());
                state_ref.error_index.insert(key, i);
            }
        }
        for methods in state_ref.entries.values_mut() {
            for e in methods.values_mut() {
                e.close_tick(now);
            }
        }
        state_ref.total.close_tick(now);
        state
    }

    /// Takes every request recorded since the last call, shard by shard (an endpoint may
    /// appear once per shard), leaving the cumulative state untouched: a worker reports these
    /// deltas to its master and never needs totals of its own.
    pub fn drain(&self) -> Vec<Drained> {
        let mut out = Vec::new();
        for mut shard in self.shards.take() {
            for (name, methods) in shard.iter_mut() {
                for (method, delta) in methods.iter_mut() {
                    if delta.is_empty() {
                        continue;
                    }
                    out.push(Drained {
                        method: method.to_string(),
                        name: name.to_string(),
                        requests: delta.requests,
                        failures: delta.failures,
                        total_response_time: delta.total_response_time,
                        min_response_time: delta.min_response_time,
                        max_response_time: delta.max_response_time,
                        content_length: delta.content_length,
                        last_timestamp: delta.last_timestamp,
                        samples: std::mem::take(&mut delta.samples),
                        per_second: std::mem::take(&mut delta.per_second),
                        errors: delta
                            .errors
                            .drain()
                            .map(|(error, e)| StatsError {
                                method: method.to_string(),
                                name: name.to_string(),
                                error: error.into_string(),
                                occurrences: e.occurrences,
                                first_seen: e.first_seen,
                                last_seen: e.last_seen,
                            })
                            .collect(),
                    });
                    delta.clear();
                }
            }
        }
        out
    }

    /// Adds requests measured elsewhere (a worker's report) to the cumulative state; they
    /// join the "current" window at the next [`Stats::collect`].
    pub fn absorb(&self, drained: &[Drained]) {
        let mut state = self.state.lock();
        for d in drained {
            if d.requests > 0 {
                let batch = Batch {
                    requests: d.requests,
                    failures: d.failures,
                    total_response_time: d.total_response_time,
                    min_response_time: d.min_response_time,
                    max_response_time: d.max_response_time,
                    content_length: d.content_length,
                    last_timestamp: d.last_timestamp,
                    samples: &d.samples,
                    per_second: &d.per_second,
                };
                state.entry_mut(&d.method, &d.name).absorb(&batch);
                state.total.absorb(&batch);
            }
            for e in &d.errors {
                state.add_error(e.clone());
            }
        }
    }

    /// A copy of the cumulative state as it stands, without folding the shards in (which
    /// would close a tick of the "current" window out of its cadence).
    pub fn copy(&self) -> RequestStats {
        self.state.lock().clone()
    }

    /// Forgets the user errors (the web UI's reset, as Locust's clears its exceptions).
    pub fn clear_exceptions(&self) {
        let mut state = self.state.lock();
        state.exceptions.clear();
        state.exception_index.clear();
    }

    /// The user errors so far, with their counts.
    pub fn exceptions(&self) -> Vec<ExceptionEntry> {
        self.state.lock().exceptions.clone()
    }

    /// A new test: no rows, failures or exceptions from the last one (Locust's `clear_all`),
    /// after draining the shards so nothing of the old test leaks into the new.
    pub fn clear_all(&self) {
        let mut state = self.collect();
        *state = RequestStats::new(unix_now());
    }

    /// Resets the counters (`--reset-stats`), after folding in what the shards hold so nothing
    /// recorded before the reset leaks into the numbers after it.
    pub fn reset(&self) {
        let mut state = self.collect();
        state.reset(unix_now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(
        method: &'a str,
        name: &'a str,
        ms: f64,
        error: Option<&'a str>,
        t: f64,
    ) -> RequestSample<'a> {
        RequestSample {
            method,
            name,
            response_time_ms: ms,
            content_length: 100,
            error,
            timestamp: t,
        }
    }

    #[test]
    fn records_from_many_threads_add_up() {
        let stats = std::sync::Arc::new(Stats::new(4, 1000.0));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let stats = stats.clone();
                std::thread::spawn(move || {
                    for j in 0..1000 {
                        let err =
                            (j % 10 == 0).then_some("HTTPError('500 Server Error: x for url: /a')");
                        stats.record(&sample("GET", "/a", 1.0 + i as f64, err, 1001.0));
                        stats.record(&sample("POST", "/a", 2.0, None, 1001.5));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = stats.collect();
        assert_eq!(s.total.num_requests, 16_000);
        assert_eq!(s.total.num_failures, 800);
        let get = s.entry("GET", "/a").unwrap();
        assert_eq!(get.num_requests, 8000);
        assert_eq!(get.min_response_time, Some(1.0));
        assert_eq!(get.max_response_time, 8.0);
        assert_eq!(s.errors().len(), 1);
        assert_eq!(s.errors()[0].occurrences, 800);
        let rows: Vec<_> = s.entries().map(|e| e.method.as_str()).collect();
        assert_eq!(rows, ["GET", "POST"]);
    }

    #[test]
    fn rows_sort_by_name_then_method_and_errors_by_first_seen() {
        let stats = Stats::new(2, 0.0);
        stats.record(&sample("POST", "/b", 1.0, Some("late"), 5.0));
        stats.record(&sample("GET", "/b", 1.0, None, 1.0));
        stats.record(&sample("GET", "/ (checked)", 1.0, Some("early"), 2.0));
        stats.record(&sample("GET", "/", 1.0, None, 1.0));
        let s = stats.collect();
        let names: Vec<_> = s
            .entries()
            .map(|e| format!("{} {}", e.method, e.name))
            .collect();
        assert_eq!(names, ["GET /", "GET / (checked)", "GET /b", "POST /b"]);
        let errors: Vec<_> = s.errors().iter().map(|e| e.error.as_str()).collect();
        assert_eq!(errors, ["early", "late"]);
        assert!(s.has_failures());
    }

    #[test]
    fn total_rate_spans_start_to_last_request() {
        let stats = Stats::new(1, 100.0);
        for i in 0..10 {
            stats.record(&sample(
                "GET",
                "/",
                1.0,
                (i < 2).then_some("x"),
                100.0 + i as f64 * 0.5 + 0.5,
            ));
        }
        let s = stats.collect();
        // 10 requests over 5 seconds.
        assert_eq!(s.total_rates(&s.total), (2.0, 0.4));
    }

    #[test]
    fn reset_keeps_rows_and_drops_counts() {
        let stats = Stats::new(1, 0.0);
        stats.record(&sample("GET", "/", 1.0, Some("boom"), 1.0));
        stats.record_exception("oops", "at step 1");
        stats.reset();
        let s = stats.collect();
        assert_eq!(s.entries().count(), 1);
        assert_eq!(s.total.num_requests, 0);
        assert!(s.errors().is_empty());
        assert_eq!(
            s.exceptions().len(),
            1,
            "Locust keeps exceptions across a reset"
        );
    }
}
