//! `-i/--iterations`, as locust-plugins defines it: at most N task runs in all, over every
//! user; once they have all been started, each user stops at the start of its next task run
//! (its `on_stop` still runs), and the test ends when the last user has stopped.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Debug)]
pub struct IterationLimit {
    limit: u64,
    started: AtomicU64,
    reached: AtomicBool,
}

impl IterationLimit {
    pub fn new(limit: u64) -> IterationLimit {
        IterationLimit {
            limit,
            started: AtomicU64::new(0),
            reached: AtomicBool::new(false),
        }
    }

    /// Claims one task run; `false` once every run is claimed, when the user should stop.
    pub fn claim(&self) -> bool {
        if self.started.fetch_add(1, Ordering::Relaxed) < self.limit {
            return true;
        }
        if !self.reached.swap(true, Ordering::Relaxed) {
            tracing::info!(
                target: "locusta.runners",
                "Iteration limit reached ({}), stopping Users at the start of their next task run",
                self.limit
            );
        }
        false
    }

    /// Whether some user has found every run claimed.
    pub fn reached(&self) -> bool {
        self.reached.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_exactly_the_limit_across_threads() {
        let limit = std::sync::Arc::new(IterationLimit::new(1000));
        let claimed: u64 = (0..8)
            .map(|_| {
                let limit = limit.clone();
                std::thread::spawn(move || (0..500).filter(|_| limit.claim()).count() as u64)
            })
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(claimed, 1000);
        assert!(limit.reached());
    }
}
