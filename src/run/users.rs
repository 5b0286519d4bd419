//! Who runs the users of a test: this process's engine, or the workers of a master. The
//! reporting, the run time and the final files do not care which.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::distributed::master::Master;
use crate::engine::Runner;

#[derive(Clone)]
pub enum Users {
    Local(Arc<Runner>),
    Cluster(Arc<Master>),
    /// No engine yet: a web UI waiting for the host its first test needs.
    Idle,
}

impl Users {
    pub fn user_count(&self) -> usize {
        match self {
            Users::Local(r) => r.user_count(),
            Users::Cluster(m) => m.user_count(),
            Users::Idle => 0,
        }
    }

    /// Running users per type name, sorted by name.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        match self {
            Users::Local(r) => r.counts(),
            Users::Cluster(m) => m.counts(),
            Users::Idle => BTreeMap::new(),
        }
    }

    pub fn fixed_total(&self) -> u64 {
        match self {
            Users::Local(r) => r.fixed_total(),
            Users::Cluster(m) => m.fixed_total(),
            Users::Idle => 0,
        }
    }

    pub async fn ramp(&self, target: u64, rate: f64, stop_timeout: Duration) {
        match self {
            Users::Local(r) => r.ramp(target, rate, stop_timeout).await,
            Users::Cluster(m) => m.ramp(target, rate, stop_timeout).await,
            Users::Idle => {}
        }
    }

    pub fn reset_stats(&self) {
        match self {
            Users::Local(r) => r.reset_stats(),
            Users::Cluster(m) => m.reset_stats(),
            Users::Idle => {}
        }
    }

    /// Stops every user (a master tells its workers to quit and waits for their last report).
    pub async fn stop(&self, stop_timeout: Duration) {
        match self {
            Users::Local(r) => r.stop(stop_timeout).await,
            Users::Cluster(m) => m.end_test(stop_timeout).await,
            Users::Idle => {}
        }
    }

    /// A second signal: stop now.
    pub fn abort(&self) {
        match self {
            Users::Local(r) => r.abort(),
            Users::Cluster(m) => m.abort(),
            Users::Idle => {}
        }
    }

    /// Returns when `-i` is used up (local runs only).
    pub async fn iterations_done(&self) {
        match self {
            Users::Local(r) => r.iterations_done().await,
            Users::Cluster(_) | Users::Idle => std::future::pending().await,
        }
    }

    /// Returns when no worker is left to run the test (masters only).
    pub async fn workers_gone(&self) {
        match self {
            Users::Local(_) | Users::Idle => std::future::pending().await,
            Users::Cluster(m) => m.all_gone().await,
        }
    }
}
