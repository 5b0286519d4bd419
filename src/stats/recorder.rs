//! The hot path: where virtual users drop their measurements.
//!
//! Every OS thread records into its own shard, so the lock taken per request is never contended
//! (only the once-a-second collector touches another thread's shard). A shard keeps raw
//! microsecond samples rather than a histogram: pushing a `u32` is the cheapest possible record,
//! and it spares each shard an HDR histogram per endpoint (around 100 KB apiece).

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Mutex, MutexGuard};

/// What one finished request reports.
#[derive(Debug, Clone, Copy)]
pub struct RequestSample<'a> {
    pub method: &'a str,
    pub name: &'a str,
    pub response_time_ms: f64,
    pub content_length: u64,
    /// The failure text in Locust's form, `None` for a success.
    pub error: Option<&'a str>,
    /// Wall-clock time the request completed, Unix seconds.
    pub timestamp: f64,
}

#[derive(Debug, Default)]
pub(crate) struct ErrorDelta {
    pub occurrences: u64,
    pub first_seen: f64,
    pub last_seen: f64,
}

#[derive(Debug, Default)]
pub(crate) struct EndpointDelta {
    pub requests: u64,
    pub failures: u64,
    pub total_response_time: f64,
    pub min_response_time: f64,
    pub max_response_time: f64,
    pub content_length: u64,
    pub last_timestamp: f64,
    pub samples: Vec<u32>,
    pub per_second: Vec<(u64, u64, u64)>,
    pub errors: HashMap<Box<str>, ErrorDelta>,
}

impl EndpointDelta {
    fn record(&mut self, s: &RequestSample<'_>) {
        if self.requests == 0 {
            self.min_response_time = s.response_time_ms;
            self.max_response_time = s.response_time_ms;
        } else {
            self.min_response_time = self.min_response_time.min(s.response_time_ms);
            self.max_response_time = self.max_response_time.max(s.response_time_ms);
        }
        self.requests += 1;
        self.total_response_time += s.response_time_ms;
        self.content_length += s.content_length;
        self.last_timestamp = self.last_timestamp.max(s.timestamp);
        let micros = (s.response_time_ms * 1000.0).round();
        self.samples.push(if micros >= u32::MAX as f64 {
            u32::MAX
        } else {
            micros as u32
        });
        let sec = s.timestamp as u64;
        let failed = u64::from(s.error.is_some());
        match self.per_second.last_mut() {
            Some(last) if last.0 == sec => {
                last.1 += 1;
                last.2 += failed;
            }
            _ => self.per_second.push((sec, 1, failed)),
        }
        if let Some(error) = s.error {
            self.failures += 1;
            let e = match self.errors.get_mut(error) {
                Some(e) => e,
                None => self.errors.entry(error.into()).or_insert(ErrorDelta {
                    occurrences: 0,
                    first_seen: s.timestamp,
                    last_seen: s.timestamp,
                }),
            };
            e.occurrences += 1;
            e.first_seen = e.first_seen.min(s.timestamp);
            e.last_seen = e.last_seen.max(s.timestamp);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.requests == 0
    }

    /// Empties the delta but keeps its allocations for the next second.
    pub fn clear(&mut self) {
        self.requests = 0;
        self.failures = 0;
        self.total_response_time = 0.0;
        self.content_length = 0;
        self.last_timestamp = 0.0;
        self.samples.clear();
        self.per_second.clear();
        self.errors.clear();
    }
}

/// name → [(method, delta)]: looked up by `&str` without allocating; a name rarely has more
/// than two methods, so a short vector beats a second map.
pub(crate) type Shard = HashMap<Box<str>, Vec<(Box<str>, EndpointDelta)>>;

pub(crate) struct Shards {
    shards: Box<[Mutex<Shard>]>,
    /// One per shard, only the collector's: what it swaps in for the deltas it takes.
    spares: Box<[Mutex<Shard>]>,
}

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SHARD_INDEX: Cell<usize> = Cell::new(NEXT_SHARD.fetch_add(1, Ordering::Relaxed));
}

impl Shards {
    pub fn new(count: usize) -> Self {
        let shards = || {
            (0..count.max(1))
                .map(|_| Mutex::new(Shard::default()))
                .collect()
        };
        Shards {
            shards: shards(),
            spares: shards(),
        }
    }

    pub fn record(&self, sample: &RequestSample<'_>) {
        let index = SHARD_INDEX.with(Cell::get) % self.shards.len();
        let mut shard = self.shards[index].lock();
        let methods = match shard.get_mut(sample.name) {
            Some(m) => m,
            None => shard.entry(sample.name.into()).or_default(),
        };
        let delta = match methods.iter().position(|(m, _)| &**m == sample.method) {
            Some(i) => &mut methods[i].1,
            None => {
                methods.push((sample.method.into(), EndpointDelta::default()));
                &mut methods.last_mut().expect("just pushed").1
            }
        };
        delta.record(sample);
    }

    /// Each shard's deltas since the last call, swapped under the shard's lock for the spare
    /// the last call emptied: recording threads wait for a swap, never for the fold. The caller
    /// empties what it gets (`EndpointDelta::clear`), keeping the entries and their
    /// allocations for the next swap, so a recording thread allocates nothing then either.
    pub fn take(&self) -> impl Iterator<Item = MutexGuard<'_, Shard>> {
        self.shards
            .iter()
            .zip(self.spares.iter())
            .map(|(shard, spare)| {
                let mut spare = spare.lock();
                std::mem::swap(&mut *shard.lock(), &mut *spare);
                spare
            })
    }
}
