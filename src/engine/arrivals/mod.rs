//! The open model: iterations start at the rate the schedule sets, whatever the responses do,
//! and each is timed from the instant it was meant to start.
//!
//! One task owns the schedule ([`drive`]): at each intended instant it picks a user type by
//! weight (Locust's weighted round robin, so shares match a closed run's) and queues the
//! instant for that type; a user takes it as soon as it is free, runs one task and comes back
//! for the next. When no user of the type is free, one more is started, up to `max_users`
//! busy or starting at once; beyond that the instant waits in the queue and its iteration is
//! late, charged all the waiting. The queue holds at most `max_users` instants per type; an
//! arrival beyond is dropped and counted, so memory follows the cap, not the backlog of a
//! server that stopped answering.
//!
//! Every request of an iteration is charged the iteration's lag (its start minus the intended
//! instant): request `k` was meant to go that much earlier too. Without it, a stall that keeps
//! every user busy would show only in the count of late iterations, as k6's
//! `dropped_iterations` does, while the percentiles said all was well (coordinated omission,
//! peers-beyond-http.md B). The time on the wire goes to `wire`, a second set of statistics
//! with the same rows.

pub mod schedule;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use schedule::{RateStage, Schedule, Spacing};

use crate::stats::Stats;

/// An iteration that starts this much after its instant or later counts as late. tokio's
/// timer wakes within a millisecond; 10 ms is lateness a user would notice in a percentile.
pub const LATE_AFTER: Duration = Duration::from_millis(10);

/// What the open model was asked for.
#[derive(Debug, Clone)]
pub struct OpenConfig {
    pub stages: Vec<RateStage>,
    pub spacing: Spacing,
    /// The most users busy (or starting) at once.
    pub max_users: u64,
}

/// Totals since the start (or the last reset), and the start lag's distribution.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArrivalCounts {
    /// Arrivals due so far.
    pub scheduled: u64,
    /// Iterations started.
    pub started: u64,
    /// Started [`LATE_AFTER`] or more after their instant.
    pub late: u64,
    /// Not started: the queue was full, or the run ended first.
    pub dropped: u64,
    /// Waiting for a free user now.
    pub queued: u64,
    /// Users running an iteration now.
    pub busy: u64,
    /// Start lag percentiles, in milliseconds: p50, p99, max.
    pub lag_p50_ms: f64,
    pub lag_p99_ms: f64,
    pub lag_max_ms: f64,
}

struct TypeQueue {
    pending: Mutex<VecDeque<Instant>>,
    ready: Notify,
    /// Users of this type waiting for an instant, and users starting (in `on_start`).
    idle: AtomicUsize,
    starting: AtomicUsize,
}

/// The state the schedule's task and the users share.
pub struct OpenModel {
    pub config: OpenConfig,
    queues: Vec<TypeQueue>,
    scheduled: AtomicU64,
    started: AtomicU64,
    late: AtomicU64,
    dropped: AtomicU64,
    busy: AtomicU64,
    /// Start lag in microseconds (1 µs to 1 hour, 3 digits).
    lag: Mutex<Histogram<u64>>,
    /// The time on the wire of every request, in the same rows as the run's statistics.
    pub wire: Arc<Stats>,
    /// The last arrival is due (or the schedule was stopped): users leave when the queue is
    /// empty.
    pub finished: CancellationToken,
}

impl OpenModel {
    pub fn new(config: OpenConfig, types: usize, wire: Arc<Stats>) -> OpenModel {
        OpenModel {
            config,
            queues: (0..types)
                .map(|_| TypeQueue {
                    pending: Mutex::new(VecDeque::new()),
                    ready: Notify::new(),
                    idle: AtomicUsize::new(0),
                    starting: AtomicUsize::new(0),
                })
                .collect(),
            scheduled: AtomicU64::new(0),
            started: AtomicU64::new(0),
            late: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            busy: AtomicU64::new(0),
            lag: Mutex::new(Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")),
            wire,
            finished: CancellationToken::new(),
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> ArrivalCounts {
        let lag = self.lag.lock();
        let ms = |q: f64| {
            if lag.is_empty() {
                0.0
            } else {
                lag.value_at_quantile(q) as f64 / 1000.0
            }
        };
        ArrivalCounts {
            scheduled: self.scheduled.load(Relaxed),
            started: self.started.load(Relaxed),
            late: self.late.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            queued: self
                .queues
                .iter()
                .map(|q| q.pending.lock().len() as u64)
                .sum(),
            busy: self.busy.load(Relaxed),
            lag_p50_ms: ms(0.5),
            lag_p99_ms: ms(0.99),
            lag_max_ms: lag.max() as f64 / 1000.0,
        }
    }

    /// Back to zero (`--reset-stats`, a new test), queues kept.
    pub fn reset(&self) {
        for c in [&self.scheduled, &self.started, &self.late, &self.dropped] {
            c.store(0, Relaxed);
        }
        self.lag.lock().reset();
    }

    /// Queues an arrival for `user_type`; says whether a user must be started for it.
    fn arrive(&self, user_type: usize, at: Instant, users: u64) -> Arrival {
        self.scheduled.fetch_add(1, Relaxed);
        let q = &self.queues[user_type];
        let mut pending = q.pending.lock();
        if pending.len() as u64 >= self.config.max_users {
            self.dropped.fetch_add(1, Relaxed);
            return Arrival::Dropped;
        }
        pending.push_back(at);
        let waiting = pending.len();
        drop(pending);
        q.ready.notify_one();
        let free = q.idle.load(Relaxed) + q.starting.load(Relaxed);
        if waiting > free && users < self.config.max_users {
            q.starting.fetch_add(1, Relaxed);
            Arrival::StartUser
        } else {
            Arrival::Queued
        }
    }

    /// A user of `user_type` has run `on_start` and takes its first instant.
    pub fn user_ready(&self, user_type: usize) {
        let q = &self.queues[user_type];
        // Saturating: a user started by a stage of the closed model has no starting count.
        let _ = q
            .starting
            .fetch_update(Relaxed, Relaxed, |n| Some(n.saturating_sub(1)));
    }

    /// The next instant for a user of `user_type`, once one is queued; `None` when `stop`
    /// fires, or the schedule is over and nothing is left.
    pub async fn next(&self, user_type: usize, stop: &CancellationToken) -> Option<Instant> {
        let q = &self.queues[user_type];
        q.idle.fetch_add(1, Relaxed);
        let at = loop {
            // Registered before looking, so a notify between the look and the wait is kept.
            let ready = q.ready.notified();
            if let Some(at) = q.pending.lock().pop_front() {
                break Some(at);
            }
            if self.finished.is_cancelled() {
                break None;
            }
            tokio::select! {
                biased;
                _ = stop.cancelled() => break None,
                _ = self.finished.cancelled() => {}
                _ = ready => {}
            }
        };
        q.idle.fetch_sub(1, Relaxed);
        let at = at?;
        let lag = Instant::now().saturating_duration_since(at);
        self.started.fetch_add(1, Relaxed);
        self.busy.fetch_add(1, Relaxed);
        if lag >= LATE_AFTER {
            self.late.fetch_add(1, Relaxed);
        }
        let micros = u64::try_from(lag.as_micros()).unwrap_or(u64::MAX);
        self.lag.lock().saturating_record(micros.max(1));
        Some(at)
    }

    /// A user finished its iteration.
    pub fn done(&self) {
        self.busy.fetch_sub(1, Relaxed);
    }

    /// What was still queued when the run ended is dropped: counted, never run.
    pub fn drop_queued(&self) {
        for q in &self.queues {
            let n = std::mem::take(&mut *q.pending.lock()).len() as u64;
            self.dropped.fetch_add(n, Relaxed);
        }
    }
}

enum Arrival {
    Queued,
    StartUser,
    Dropped,
}

/// What the schedule's task needs of the users: how many there are, and one more of a type.
pub trait Users {
    fn user_count(&self) -> u64;
    fn start_one(&self, user_type: usize);
}

/// Runs the schedule from now to its end: each arrival at its instant, to a type picked by
/// `pick`. Several arrivals due by the same wake-up go out together (at 10,000/s that is ten
/// a millisecond, tokio's timer resolution).
pub async fn drive(
    model: &OpenModel,
    mut schedule: Schedule,
    mut pick: impl FnMut() -> Option<usize>,
    users: &impl Users,
) {
    let start = Instant::now();
    while let Some(offset) = schedule.next_offset() {
        let at = start + offset;
        if at > Instant::now() {
            tokio::time::sleep_until(at).await;
        }
        let Some(t) = pick() else { break };
        if let Arrival::StartUser = model.arrive(t, at, users.user_count()) {
            users.start_one(t);
        }
    }
    model.finished.cancel();
}

#[cfg(test)]
mod tests;
