//! Starting and stopping users: Locust's batched ramp, its dispatch order, its stop rules.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rand::rngs::SmallRng;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::dispatch::{DispatchType, Dispatcher};
use super::http::{ClientOptions, HttpClient};
use super::iterations::IterationLimit;
use super::timer::Timer;
use super::user::{RunContext, VirtualUser, request_url};
use crate::scenario::plan::UserPlan;
use crate::scenario::{Scenario, TagFilter};
use crate::stats::Stats;

/// After users are told to stop for good, their `on_stop` steps get this long before the
/// remaining users are aborted, so a target that hangs cannot hold the run open.
pub const ON_STOP_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Default)]
pub struct RunConfig {
    /// `-H/--host`: replaces every user type's host.
    pub host: Option<String>,
    /// Indices of the user types that may run.
    pub user_types: Vec<usize>,
    pub tags: TagFilter,
    /// `--insecure`: accept any TLS certificate.
    pub insecure: bool,
    /// `--connection-idle-timeout`; `None`: the default.
    pub idle_timeout: Option<std::time::Duration>,
    /// `--ca-file`: trust these PEM certificates too.
    pub ca_file: Option<std::path::PathBuf>,
    /// `-i`: task runs in all.
    pub iterations: Option<u64>,
}

struct Running {
    user_type: usize,
    stop: CancellationToken,
    kill: CancellationToken,
    join: JoinHandle<()>,
}

struct State {
    /// Most recently started last: ramp-down removes from the end, as Locust does.
    users: Vec<Running>,
    per_type: Vec<u64>,
    dispatcher: Dispatcher,
    /// Users removed by a ramp-down that are still finishing.
    leaving: Vec<JoinHandle<()>>,
    /// The types a load-shape stage restricts spawning to; `None`: all.
    selected: Option<Vec<usize>>,
    /// Types to start before asking the dispatcher, after a rebalance.
    pending: std::collections::VecDeque<usize>,
}

/// The longest one step of a starting batch waits for its users' first answers.
const SETTLE_STEP: Duration = Duration::from_millis(10);
/// The longest a whole batch spends waiting for first answers, however many users it has.
const SETTLE_BATCH: Duration = Duration::from_millis(250);

pub struct Runner {
    pub(crate) ctx: Arc<RunContext>,
    /// Every type that may run, for rebuilding the dispatcher when a stage names a subset.
    dispatch_types: Vec<DispatchType>,
    state: Mutex<State>,
    next_id: AtomicU64,
    count: AtomicUsize,
    abort: CancellationToken,
}

impl Runner {
    /// Prepares a run: the HTTP client, each type's task table and host. Fails with a message
    /// for the user when nothing could run.
    pub fn new(
        scenario: Arc<Scenario>,
        config: &RunConfig,
        stats: Arc<Stats>,
    ) -> Result<Runner, String> {
        let ca_pem = match &config.ca_file {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| format!("cannot read --ca-file {}: {e}", path.display()))?,
            ),
            None => None,
        };
        let options = ClientOptions::default();
        let ws = super::ws::WsClient::new(&options.user_agent, config.insecure, ca_pem.as_deref())?;
        let client = HttpClient::new(&ClientOptions {
            http2_prior_knowledge: scenario.http2,
            insecure: config.insecure,
            ca_pem,
            idle_timeout: config
                .idle_timeout
                .unwrap_or(super::h1::DEFAULT_IDLE_TIMEOUT),
            ..ClientOptions::default()
        })?;
        let mut plans: Vec<UserPlan> = (0..scenario.user_types.len())
            .map(|_| UserPlan::default())
            .collect();
        let mut hosts = vec![None; scenario.user_types.len()];
        let mut dispatch = Vec::new();
        for (t, plan) in super::dispatch::runnable(&scenario, &config.user_types, &config.tags) {
            let (i, u) = (t.index, &scenario.user_types[t.index]);
            hosts[i] = config
                .host
                .clone()
                .or_else(|| u.host.clone())
                .or_else(|| scenario.host.clone());
            if hosts[i].is_none() && plan.needs_host() {
                return Err(format!(
                    "You must specify the base host. Either in the host attribute of user `{}` or of the scenario, \
                     or on the command line using the --host option.",
                    u.name
                ));
            }
            plans[i] = plan;
            dispatch.push(t);
        }
        if dispatch.is_empty() {
            return Err("There are no users with weight > 0 and tasks to run.".to_string());
        }
        let per_type = vec![0; scenario.user_types.len()];
        let static_urls = plans
            .iter()
            .zip(&hosts)
            .map(|(plan, host)| {
                plan.requests()
                    .into_iter()
                    .filter_map(|spec| {
                        let text = spec.url.as_static()?;
                        let url = request_url(host.as_deref(), spec.absolute, text).ok()?;
                        Some((Arc::as_ptr(spec) as usize, url))
                    })
                    .collect()
            })
            .collect();
        let ctx = RunContext {
            scenario,
            plans,
            hosts,
            static_urls,
            client,
            ws,
            stats,
            iterations: config.iterations.map(IterationLimit::new),
            timer: Timer::default(),
        };
        Ok(Runner {
            ctx: Arc::new(ctx),
            state: Mutex::new(State {
                users: Vec::new(),
                per_type,
                dispatcher: Dispatcher::new(&dispatch),
                leaving: Vec::new(),
                selected: None,
                pending: Default::default(),
            }),
            dispatch_types: dispatch,
            next_id: AtomicU64::new(1),
            count: AtomicUsize::new(0),
            abort: CancellationToken::new(),
        })
    }

    pub fn user_count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Fixed-count users requested by the scenario (Locust warns when `-u` is smaller).
    pub fn fixed_total(&self) -> u64 {
        self.state.lock().dispatcher.fixed_total()
    }

    /// Running users per type name, sorted by name (Locust's "All users spawned" order).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let state = self.state.lock();
        let mut out = BTreeMap::new();
        for (i, n) in state.per_type.iter().enumerate() {
            if *n > 0 {
                out.insert(self.ctx.scenario.user_types[i].name.clone(), *n);
            }
        }
        out
    }

    /// Adds one batch of up to `n` users; returns how many started.
    fn spawn(&self, n: u64) -> u64 {
        let mut state = self.state.lock();
        let mut started = 0;
        for _ in 0..n {
            let Some(t) = ({
                let State {
                    dispatcher,
                    per_type,
                    pending,
                    ..
                } = &mut *state;
                pending.pop_front().or_else(|| dispatcher.next(per_type))
            }) else {
                break;
            };
            self.start_user(&mut state, t);
            started += 1;
        }
        self.count.store(state.users.len(), Ordering::Relaxed);
        started
    }

    /// Starts a batch a few users at a time, letting each few's first requests be answered
    /// before the next few start, so that these find the connections given back and share
    /// them. Started in one go, a batch is all in flight at once, each user on a connection
    /// of its own: 10,000 users, 10,000 connections, idle in the pool after. Yielding once
    /// between steps (the previous way) left it to how fast the server answered within one
    /// poll of the runtime: 1,000 users on one core opened anywhere from 33 to 514
    /// connections against the same instant server (`tests/run.rs`). Waiting for the
    /// requests in flight to fall back to where they were before the step, for at most
    /// [`SETTLE_STEP`] a step and [`SETTLE_BATCH`] a batch, makes it one step's worth: 16
    /// connections in five runs of six and 47 in the sixth, debug builds on both sides (2 ms a
    /// step gave 41 to 109: a debug axum takes longer than that to answer 16). The caps keep
    /// a slow server from slowing the ramp: a batch waits at most 250 ms however large.
    async fn spawn_batch(&self, n: u64) -> u64 {
        const STEP: u64 = 16;
        let batch_start = std::time::Instant::now();
        let mut started = 0;
        while started < n {
            let step = STEP.min(n - started);
            let before = self.ctx.client.requests_in_flight();
            let now = self.spawn(step);
            started += now;
            if now < step {
                // Only fixed-count types, all full.
                break;
            }
            // Wall-clock caps (not tokio's clock): under paused time, yielding never
            // advances tokio's, and the loop must still end.
            let step_start = std::time::Instant::now();
            loop {
                tokio::task::yield_now().await;
                if self.ctx.client.requests_in_flight() <= before
                    || step_start.elapsed() >= SETTLE_STEP
                    || batch_start.elapsed() >= SETTLE_BATCH
                {
                    break;
                }
            }
        }
        started
    }

    fn start_user(&self, state: &mut State, t: usize) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let stop = CancellationToken::new();
        let kill = CancellationToken::new();
        let user = VirtualUser::new(
            id,
            t,
            rand::make_rng::<SmallRng>(),
            self.ctx.scenario.feeders.len(),
        );
        let join = tokio::spawn(user.run(self.ctx.clone(), stop.clone(), kill.clone()));
        state.users.push(Running {
            user_type: t,
            stop,
            kill,
            join,
        });
        state.per_type[t] += 1;
    }

    /// The user types a master may ask for: (index, name) of each type that can run.
    pub fn runnable_types(&self) -> Vec<(usize, String)> {
        self.dispatch_types
            .iter()
            .map(|t| (t.index, t.name.clone()))
            .collect()
    }

    /// Running users of every runnable type, zeros included (what a worker reports).
    pub fn counts_with_zeros(&self) -> BTreeMap<String, u64> {
        let state = self.state.lock();
        self.dispatch_types
            .iter()
            .map(|t| (t.name.clone(), state.per_type[t.index]))
            .collect()
    }

    /// Sets each listed type to an absolute number of users at once, as a Locust worker
    /// applies its master's `spawn` (the master paces the ramp). New users start before
    /// surplus ones stop, as in Locust; types not listed keep their users.
    pub fn set_counts(&self, targets: &[(usize, u64)], stop_timeout: Duration) {
        let mut state = self.state.lock();
        for &(t, n) in targets {
            while state.per_type[t] < n {
                self.start_user(&mut state, t);
            }
        }
        let mut surplus: Vec<u64> = vec![0; state.per_type.len()];
        for &(t, n) in targets {
            surplus[t] = state.per_type[t].saturating_sub(n);
        }
        if surplus.iter().any(|&n| n > 0) {
            // The latest users of each type leave.
            let mut leaving = Vec::new();
            let mut kept = Vec::with_capacity(state.users.len());
            for r in std::mem::take(&mut state.users).into_iter().rev() {
                if surplus[r.user_type] > 0 {
                    surplus[r.user_type] -= 1;
                    leaving.push(r);
                } else {
                    kept.push(r);
                }
            }
            kept.reverse();
            state.users = kept;
            self.let_go(&mut state, leaving, stop_timeout);
        }
        self.count.store(state.users.len(), Ordering::Relaxed);
    }

    /// Removes the `n` most recently started users, letting them finish in the background.
    fn retire(&self, n: u64, stop_timeout: Duration) {
        let mut state = self.state.lock();
        let keep = state.users.len().saturating_sub(n as usize);
        let leaving: Vec<Running> = state.users.split_off(keep);
        self.let_go(&mut state, leaving, stop_timeout);
    }

    fn let_go(&self, state: &mut State, leaving: Vec<Running>, stop_timeout: Duration) {
        for r in &leaving {
            state.per_type[r.user_type] -= 1;
        }
        self.count.store(state.users.len(), Ordering::Relaxed);
        let abort = self.abort.clone();
        state.leaving.push(tokio::spawn(async move {
            stop_users(leaving, stop_timeout, abort).await
        }));
    }

    /// Lets only `types` run (all with `None`), as a load-shape stage that names user types
    /// does. As Locust does when a shape changes the user classes, the dispatcher starts
    /// afresh over the new set and the users are rebalanced to its split of `target`: users of
    /// types left out stop, types over their share lose their latest users, and the types
    /// short of it are the next ones the ramp starts.
    pub fn select_types(&self, types: Option<&[usize]>, target: u64, stop_timeout: Duration) {
        let mut state = self.state.lock();
        if state.selected.as_deref() == types {
            return;
        }
        let chosen: Vec<DispatchType> = self
            .dispatch_types
            .iter()
            .filter(|t| types.is_none_or(|set| set.contains(&t.index)))
            .cloned()
            .collect();
        let mut dispatcher = Dispatcher::new(&chosen);
        let mut share = vec![0u64; state.per_type.len()];
        let mut picks = Vec::new();
        for _ in 0..target {
            let Some(t) = dispatcher.next(&share) else {
                break;
            };
            share[t] += 1;
            picks.push(t);
        }
        // Keep each type's earliest users up to its share; the rest leave.
        let mut kept = vec![0u64; share.len()];
        let (stay, leave): (Vec<Running>, Vec<Running>) =
            std::mem::take(&mut state.users).into_iter().partition(|r| {
                kept[r.user_type] += 1;
                kept[r.user_type] <= share[r.user_type]
            });
        state.users = stay;
        if !leave.is_empty() {
            self.let_go(&mut state, leave, stop_timeout);
        }
        // The picks not yet running, in the dispatcher's order, go first.
        let mut seen = vec![0u64; share.len()];
        state.pending = picks
            .into_iter()
            .filter(|&t| {
                seen[t] += 1;
                seen[t] > state.per_type[t]
            })
            .collect();
        state.dispatcher = dispatcher;
        state.selected = types.map(<[usize]>::to_vec);
    }

    /// Moves to `target` users in Locust's batches: `max(1, floor(rate))` users every
    /// `batch / rate` seconds, the first batch at once.
    pub async fn ramp(&self, target: u64, rate: f64, stop_timeout: Duration) {
        tracing::info!(target: "locusta.runners", "Ramping to {target} users at a rate of {rate:.2} per second");
        let (batch, interval) = crate::limits::batches(rate);
        loop {
            let began = Instant::now();
            let current = self.user_count() as u64;
            if current < target {
                if self.spawn_batch(batch.min(target - current)).await == 0 {
                    // Only fixed-count types, all full: Locust stops spawning here too.
                    break;
                }
            } else if current > target {
                self.retire(batch.min(current - target), stop_timeout);
            }
            if self.user_count() as u64 == target {
                break;
            }
            tokio::time::sleep(interval.saturating_sub(began.elapsed())).await;
        }
        let counts = self.counts();
        let total: u64 = counts.values().sum();
        // Python's `json.dumps` spacing: {"ApiUser": 2, "WebUser": 6}.
        let pairs: Vec<String> = counts
            .iter()
            .map(|(name, n)| format!("{}: {n}", serde_json::Value::from(name.as_str())))
            .collect();
        let json = format!("{{{}}}", pairs.join(", "));
        tracing::info!(target: "locusta.runners", "All users spawned: {json} ({total} total users)");
    }

    /// Stops every user: those waiting leave at once, those in a task finish it within
    /// `stop_timeout` (0: leave at once), then `on_stop` runs; a user still busy after
    /// `ON_STOP_GRACE` is aborted, and [`Runner::abort`] aborts everything immediately.
    pub async fn stop(&self, stop_timeout: Duration) {
        let (users, leaving) = {
            let mut state = self.state.lock();
            state.per_type.iter_mut().for_each(|n| *n = 0);
            (
                std::mem::take(&mut state.users),
                std::mem::take(&mut state.leaving),
            )
        };
        self.count.store(0, Ordering::Relaxed);
        stop_users(users, stop_timeout, self.abort.clone()).await;
        for l in leaving {
            let _ = l.await;
        }
    }

    /// `--reset-stats`: Locust resets the statistics each time spawning completes.
    pub fn reset_stats(&self) {
        self.ctx.stats.reset();
        tracing::info!(target: "locusta.runners", "Resetting stats\n");
    }

    /// Returns once `-i` has been used up and every user has stopped (never without `-i`).
    pub async fn iterations_done(&self) {
        let Some(limit) = &self.ctx.iterations else {
            return std::future::pending().await;
        };
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        loop {
            poll.tick().await;
            if limit.reached() && self.state.lock().users.iter().all(|u| u.join.is_finished()) {
                tracing::info!(target: "locusta.runners", "Last user stopped, quitting runner");
                return;
            }
        }
    }

    /// A second Ctrl-C: end every user now, whatever it is doing.
    pub fn abort(&self) {
        self.abort.cancel();
    }
}

async fn stop_users(users: Vec<Running>, stop_timeout: Duration, abort: CancellationToken) {
    if users.is_empty() {
        return;
    }
    for u in &users {
        u.stop.cancel();
        if stop_timeout.is_zero() {
            u.kill.cancel();
        }
    }
    let mut joins: Vec<JoinHandle<()>> = Vec::with_capacity(users.len());
    let kills: Vec<CancellationToken> = users.iter().map(|u| u.kill.clone()).collect();
    joins.extend(users.into_iter().map(|u| u.join));
    let aborts: Vec<tokio::task::AbortHandle> =
        joins.iter().map(JoinHandle::abort_handle).collect();
    let all_done = async {
        for j in &mut joins {
            let _ = j.await;
        }
    };
    tokio::pin!(all_done);
    if !stop_timeout.is_zero() {
        tokio::select! {
            _ = &mut all_done => return,
            _ = abort.cancelled() => {
                aborts.iter().for_each(|a| a.abort());
                return;
            }
            _ = tokio::time::sleep(stop_timeout) => {
                tracing::info!(
                    target: "locusta.runners",
                    "Not all users finished their tasks & terminated in {} seconds. Stopping them...",
                    stop_timeout.as_secs()
                );
                kills.iter().for_each(CancellationToken::cancel);
            }
        }
    }
    tokio::select! {
        _ = &mut all_done => {}
        _ = abort.cancelled() => aborts.iter().for_each(|a| a.abort()),
        _ = tokio::time::sleep(ON_STOP_GRACE) => {
            tracing::warn!(
                target: "locusta.runners",
                "Some users were still in on_stop after {} seconds; stopping them",
                ON_STOP_GRACE.as_secs()
            );
            aborts.iter().for_each(|a| a.abort());
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A runner over types A (weight 1) and B (weight 3) whose users mostly think: one
    /// request to a closed port, then a long wait.
    pub(crate) fn runner() -> Arc<Runner> {
        runner_recording_into(Arc::new(Stats::new(1, 0.0))).1
    }

    /// The same runner, recording into `stats`, with its scenario.
    pub(crate) fn runner_recording_into(
        stats: Arc<Stats>,
    ) -> (Arc<crate::scenario::Scenario>, Arc<Runner>) {
        let yaml = "host: http://127.0.0.1:1\nusers:\n  A:\n    wait_time: {constant: 1000}\n    tasks: [{get: /}]\n  B:\n    weight: 3\n    wait_time: {constant: 1000}\n    tasks: [{get: /}]\n";
        let scenario = Arc::new(
            crate::scenario::parse("t.yaml", yaml, std::path::Path::new("t.yaml"), &|_| None)
                .unwrap(),
        );
        let config = RunConfig {
            user_types: vec![0, 1],
            ..RunConfig::default()
        };
        let runner = Runner::new(scenario.clone(), &config, stats).unwrap();
        (scenario, Arc::new(runner))
    }

    /// The user count just before and just after each of `times` (ms from the ramp's start).
    async fn counts_around(runner: &Runner, times: &[u64]) -> Vec<(usize, usize)> {
        let start = Instant::now();
        let mut out = Vec::new();
        for &t in times {
            tokio::time::sleep_until(start + Duration::from_millis(t) - Duration::from_micros(10))
                .await;
            let before = runner.user_count();
            tokio::time::sleep_until(start + Duration::from_millis(t) + Duration::from_micros(10))
                .await;
            out.push((before, runner.user_count()));
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn batches_of_floor_rate_every_batch_over_rate_seconds_the_first_at_once() {
        // Rate 4, 8 users: 4 at once, 4 after 1 s (Locust's "All users spawned" ~1.0 s).
        let r = runner();
        let ramp = tokio::spawn({
            let r = r.clone();
            async move { r.ramp(8, 4.0, Duration::ZERO).await }
        });
        tokio::task::yield_now().await;
        assert_eq!(r.user_count(), 4);
        assert_eq!(counts_around(&r, &[1000]).await, [(4, 8)]);
        ramp.await.unwrap();

        // Rate 2.5: batches of 2 every 0.8 s; 7 users end with a partial batch of 1.
        let r = runner();
        let ramp = tokio::spawn({
            let r = r.clone();
            async move { r.ramp(7, 2.5, Duration::ZERO).await }
        });
        tokio::task::yield_now().await;
        assert_eq!(r.user_count(), 2);
        assert_eq!(
            counts_around(&r, &[800, 1600, 2400]).await,
            [(2, 4), (4, 6), (6, 7)]
        );
        ramp.await.unwrap();

        // Rate 0.5: one user every 2 s.
        let r = runner();
        let ramp = tokio::spawn({
            let r = r.clone();
            async move { r.ramp(2, 0.5, Duration::ZERO).await }
        });
        tokio::task::yield_now().await;
        assert_eq!(r.user_count(), 1);
        assert_eq!(counts_around(&r, &[2000]).await, [(1, 2)]);
        ramp.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn ramp_down_stops_the_latest_users_and_a_new_type_set_rebalances() {
        let r = runner();
        r.ramp(8, 100.0, Duration::ZERO).await;
        let counts = |r: &Runner| r.counts().into_iter().collect::<Vec<_>>();
        assert_eq!(counts(&r), [("A".to_string(), 2), ("B".to_string(), 6)]);
        // Locust's order is B, A, B, B, B, A, B, B: going down to 3 keeps B, A, B.
        r.ramp(3, 100.0, Duration::ZERO).await;
        assert_eq!(counts(&r), [("A".to_string(), 1), ("B".to_string(), 2)]);
        // Only A: the B users stop and A fills up to 3.
        r.select_types(Some(&[0]), 3, Duration::ZERO);
        r.ramp(3, 100.0, Duration::ZERO).await;
        assert_eq!(counts(&r), [("A".to_string(), 3)]);
        // Both again, 4 users: A keeps its share (1), B starts 3.
        r.select_types(None, 4, Duration::ZERO);
        r.ramp(4, 100.0, Duration::ZERO).await;
        assert_eq!(counts(&r), [("A".to_string(), 1), ("B".to_string(), 3)]);
        r.stop(Duration::ZERO).await;
    }
}
