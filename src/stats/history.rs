//! The run over time, for the report's charts and red flags: one point a second per endpoint
//! and for the Aggregated row, kept within a fixed size.
//!
//! A 2-hour soak must not grow: each series holds at most `capacity` points, and when it is
//! full, neighbouring points are merged in pairs and later samples fold in two at a time. The
//! series then covers the whole run at half the resolution, which is all a chart can show.

use std::collections::BTreeMap;

use super::{RequestStats, StatsEntry};

/// Points per series before it halves its resolution: 2 hours at 4 s, or 1 hour at 2 s.
pub const DEFAULT_CAPACITY: usize = 1800;

/// One moment of one series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Unix seconds.
    pub t: f64,
    pub users: u32,
    /// Requests and failures per second, over Locust's "current" window.
    pub rps: f64,
    pub fps: f64,
    /// Percentiles of the last ~10 seconds, in ms; `None` without requests then.
    pub median: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    /// Requests so far (cumulative).
    pub requests: u64,
    /// Share of the machine's CPU the load generator used, in percent.
    pub cpu: Option<f64>,
}

fn mean(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some((x + y) / 2.0),
        (x, y) => x.or(y),
    }
}

fn max(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

impl Point {
    /// Two neighbours as one: rates and medians averaged, the 95th percentile and CPU at their
    /// worst (so a spike stays visible), counts and users as of the later one.
    fn merge(self, later: Point) -> Point {
        Point {
            t: (self.t + later.t) / 2.0,
            users: later.users,
            rps: (self.rps + later.rps) / 2.0,
            fps: (self.fps + later.fps) / 2.0,
            median: mean(self.median, later.median),
            p95: max(self.p95, later.p95),
            p99: max(self.p99, later.p99),
            requests: later.requests,
            cpu: max(self.cpu, later.cpu),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Series {
    points: Vec<Point>,
    capacity: usize,
    /// How many samples each stored point stands for (doubles at each halving).
    span: u32,
    /// Samples folded into the point being built, and how many.
    pending: Option<(Point, u32)>,
}

impl Default for Series {
    fn default() -> Self {
        Series::new(DEFAULT_CAPACITY)
    }
}

impl Series {
    pub fn new(capacity: usize) -> Series {
        Series {
            points: Vec::new(),
            capacity: capacity.max(2),
            span: 1,
            pending: None,
        }
    }

    pub fn push(&mut self, p: Point) {
        let (folded, n) = match self.pending.take() {
            Some((acc, n)) => (acc.merge(p), n + 1),
            None => (p, 1),
        };
        if n < self.span {
            self.pending = Some((folded, n));
            return;
        }
        if self.points.len() == self.capacity {
            self.points = self
                .points
                .chunks(2)
                .map(|c| c.iter().copied().reduce(Point::merge).expect("chunk"))
                .collect();
            self.span *= 2;
        }
        self.points.push(folded);
    }

    /// The stored points, and the one still being built.
    pub fn points(&self) -> Vec<Point> {
        let mut out = self.points.clone();
        out.extend(self.pending.map(|(p, _)| p));
        out
    }
}

/// Every series of a run.
#[derive(Debug, Clone)]
pub struct History {
    capacity: usize,
    pub aggregated: Series,
    /// By (name, method).
    pub endpoints: BTreeMap<(String, String), Series>,
}

impl Default for History {
    fn default() -> Self {
        History::new(DEFAULT_CAPACITY)
    }
}

impl History {
    pub fn new(capacity: usize) -> History {
        History {
            capacity,
            aggregated: Series::new(capacity),
            endpoints: BTreeMap::new(),
        }
    }

    fn point(
        stats: &RequestStats,
        e: &StatsEntry,
        t: f64,
        users: usize,
        cpu: Option<f64>,
    ) -> Point {
        let (rps, fps) = stats.current_rates(e);
        let current = e.current_percentiles(&[0.5, 0.95, 0.99]);
        Point {
            t,
            users: users as u32,
            rps,
            fps,
            median: current.as_ref().map(|p| p[0]),
            p95: current.as_ref().map(|p| p[1]),
            p99: current.as_ref().map(|p| p[2]),
            requests: e.num_requests,
            cpu,
        }
    }

    /// Takes one sample of the run (call it after `Stats::collect`, once a second).
    pub fn record(&mut self, stats: &RequestStats, users: usize, cpu: Option<f64>, t: f64) {
        self.aggregated
            .push(Self::point(stats, &stats.total, t, users, cpu));
        for e in stats.entries() {
            let point = Self::point(stats, e, t, users, None);
            let capacity = self.capacity;
            self.endpoints
                .entry((e.name.clone(), e.method.clone()))
                .or_insert_with(|| Series::new(capacity))
                .push(point);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: f64, rps: f64, p95: f64) -> Point {
        Point {
            t,
            users: 1,
            rps,
            fps: 0.0,
            median: Some(rps),
            p95: Some(p95),
            p99: Some(p95),
            requests: t as u64,
            cpu: None,
        }
    }

    #[test]
    fn a_long_run_stays_within_capacity_and_keeps_spikes() {
        let mut s = Series::new(100);
        for i in 0..10_000 {
            let spike = if i == 7777 { 5000.0 } else { 10.0 };
            s.push(p(i as f64, 2.0, spike));
        }
        let points = s.points();
        assert!(points.len() <= 101, "{}", points.len());
        assert!(
            points.len() >= 50,
            "still covers the run finely: {}",
            points.len()
        );
        // The whole run is covered, in order.
        assert!(points[0].t < 100.0 && points.last().unwrap().t > 9_800.0);
        assert!(points.windows(2).all(|w| w[0].t < w[1].t));
        // Averages stay averages; the one spike survives every halving.
        assert!(points.iter().all(|q| (q.rps - 2.0).abs() < 1e-9));
        assert_eq!(points.iter().filter(|q| q.p95 == Some(5000.0)).count(), 1);
        assert_eq!(points.last().unwrap().requests, 9_999);
    }

    #[test]
    fn a_short_run_keeps_every_point() {
        let mut s = Series::new(100);
        for i in 0..60 {
            s.push(p(i as f64, 1.0, 1.0));
        }
        assert_eq!(s.points().len(), 60);
    }
}
