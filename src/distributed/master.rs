//! `--master`: locusta as the master of locusta and Python Locust workers. It paces the ramp
//! and splits users over workers with Locust's dispatcher (users in the weighted order of a
//! single run, dealt round-robin over the workers in Locust's worker order), sends each
//! worker its absolute counts every step, and adds the workers' reports into one set of
//! statistics that the usual reporting turns into tables and files.
//!
//! Unlike Locust's master, a worker that goes missing has its users dealt to the others at
//! once (Locust needs `--enable-rebalancing` for that), and a malformed message is logged and
//! dropped instead of killing the listener.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rmpv::Value;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use zeromq::{RouterSocket, Socket, SocketRecv, SocketSend, ZmqMessage};

use super::deal::{Deal, ordered};
use super::protocol::{Ack, Message, Spawn, field, number, to_value};
use super::wire;
use crate::cli::MasterOptions;
use crate::engine::dispatch::DispatchType;
use crate::stats::Stats;

/// Locust's liveness: each heartbeat resets a worker to 3, each second takes one off, below
/// zero it is missing.
const HEARTBEAT_LIVENESS: i32 = 3;
/// How long the workers get to send their final report after `quit`, beyond the stop timeout.
const QUIT_GRACE: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeState {
    Ready,
    Spawning,
    Running,
    Missing,
}

/// A worker as the web UI's Workers tab shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerInfo {
    pub id: String,
    /// Locust's name of its state: ready, spawning, running, missing.
    pub state: &'static str,
    pub user_count: u64,
    /// Percent of one core, as the worker reports it.
    pub cpu_usage: f64,
    /// Resident memory in bytes.
    pub memory_usage: u64,
}

#[derive(Debug)]
struct Node {
    index: u64,
    state: NodeState,
    heartbeat: i32,
    cpu: f64,
    memory: u64,
    /// The users it last reported, per type name.
    users: BTreeMap<String, u64>,
    cpu_warned: bool,
}

struct Inner {
    workers: BTreeMap<String, Node>,
    indices: HashMap<String, u64>,
    deal: Deal,
    /// A test is running: workers joining or leaving get the users dealt again.
    testing: bool,
    last_timestamp: f64,
    stop_timeout: f64,
    keep_workers: bool,
    /// Workers that said `client_stopped` and have not said `client_ready` again yet: a quit
    /// must reach them too.
    stopped: std::collections::BTreeSet<String>,
}

pub struct Master {
    /// Sent in every spawn; a test started from the web UI may change it.
    host: Mutex<Option<String>>,
    stats: Arc<Stats>,
    out: mpsc::UnboundedSender<(String, Message)>,
    inner: Mutex<Inner>,
    changed: Notify,
    /// Cancelled when the last worker left a running test.
    /// A fresh one per test (a test from the web UI may follow one all workers left).
    all_gone: Mutex<CancellationToken>,
    aborted: CancellationToken,
    pub address: String,
}

impl Master {
    /// Listens for workers; the returned task serves them until the master is dropped.
    pub async fn bind(
        options: &MasterOptions,
        types: Vec<DispatchType>,
        type_count: usize,
        host: Option<String>,
        stats: Arc<Stats>,
    ) -> Result<(Arc<Master>, JoinHandle<()>), String> {
        let bind_host = if options.bind_host == "*" {
            "0.0.0.0"
        } else {
            options.bind_host.as_str()
        };
        let address = format!("tcp://{bind_host}:{}", options.bind_port);
        let mut socket = RouterSocket::new();
        socket
            .bind(&address)
            .await
            .map_err(|e| format!("cannot listen for workers on {address}: {e}"))?;
        let (out, outgoing) = mpsc::unbounded_channel();
        let master = Arc::new(Master {
            host: Mutex::new(host),
            stats,
            out,
            inner: Mutex::new(Inner {
                workers: BTreeMap::new(),
                indices: HashMap::new(),
                deal: Deal::new(types, type_count),
                testing: false,
                last_timestamp: 0.0,
                stop_timeout: 0.0,
                keep_workers: false,
                stopped: Default::default(),
            }),
            changed: Notify::new(),
            all_gone: Mutex::new(CancellationToken::new()),
            aborted: CancellationToken::new(),
            address,
        });
        let task = tokio::spawn(serve(socket, outgoing, Arc::downgrade(&master)));
        Ok((master, task))
    }

    fn send(&self, to: &str, kind: &str, data: Value) {
        let _ = self
            .out
            .send((to.to_string(), Message::new(kind, data, to)));
    }

    /// Workers able to take users.
    pub fn ready_workers(&self) -> usize {
        self.inner
            .lock()
            .workers
            .values()
            .filter(|n| n.state != NodeState::Missing)
            .count()
    }

    /// Waits until `expected` workers are connected, logging Locust's progress line each
    /// second; fails after `max_wait`.
    pub async fn wait_for_workers(
        &self,
        expected: u64,
        max_wait: Option<Duration>,
    ) -> Result<(), String> {
        let began = Instant::now();
        loop {
            let ready = self.ready_workers() as u64;
            if ready >= expected {
                return Ok(());
            }
            if max_wait.is_some_and(|m| began.elapsed() >= m) {
                return Err(format!(
                    "Gave up waiting for workers to connect: {ready} of {expected} connected to {}",
                    self.address
                ));
            }
            let line = format!("Waiting for workers to be ready, {ready} of {expected} connected");
            if began.elapsed() >= Duration::from_secs(5) {
                info!(target: "locusta.runners", "{line}");
            } else {
                debug!(target: "locusta.runners", "{line}");
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), self.changed.notified()).await;
        }
    }

    /// The host the next spawns send (a new test from the web UI).
    pub fn set_host(&self, host: Option<String>) {
        *self.host.lock() = host;
    }

    /// Every connected worker, in Locust's worker order.
    pub fn worker_rows(&self) -> Vec<WorkerInfo> {
        let inner = self.inner.lock();
        inner
            .workers
            .iter()
            .map(|(id, n)| WorkerInfo {
                id: id.clone(),
                state: match n.state {
                    NodeState::Ready => "ready",
                    NodeState::Spawning => "spawning",
                    NodeState::Running => "running",
                    NodeState::Missing => "missing",
                },
                user_count: n.users.values().sum(),
                cpu_usage: n.cpu,
                memory_usage: n.memory,
            })
            .collect()
    }

    /// A master driven from its web UI keeps its workers between tests: a test's end sends
    /// `stop` (the workers come back ready) instead of `quit`.
    pub fn keep_workers(&self, keep: bool) {
        self.inner.lock().keep_workers = keep;
    }

    /// Ends the test (`quit` when the run ends with it, `stop` when the web UI may start
    /// another).
    pub async fn end_test(&self, stop_timeout: Duration) {
        if self.inner.lock().keep_workers {
            self.stop(stop_timeout).await
        } else {
            self.quit(stop_timeout).await
        }
    }

    /// Locust's `stop`: every worker stops its users, says `client_stopped`, then
    /// `client_ready` again; waits until no worker reports users (stop timeout + 60 s).
    pub async fn stop(&self, stop_timeout: Duration) {
        let ids: Vec<String> = {
            let mut inner = self.inner.lock();
            inner.testing = false;
            inner.deal.remove(0);
            inner.workers.keys().cloned().collect()
        };
        for id in &ids {
            self.send(id, "stop", Value::Nil);
        }
        // The next test (from the web UI) asks afresh whether its workers all leave.
        *self.all_gone.lock() = CancellationToken::new();
        let deadline = Instant::now() + stop_timeout + Duration::from_secs(60);
        while self.user_count() > 0 && Instant::now() < deadline && !self.aborted.is_cancelled() {
            let _ = tokio::time::timeout(Duration::from_millis(100), self.changed.notified()).await;
        }
    }

    /// Users the workers report running, per type.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let inner = self.inner.lock();
        let mut out = BTreeMap::new();
        for node in inner.workers.values() {
            for (name, n) in &node.users {
                if *n > 0 {
                    *out.entry(name.clone()).or_insert(0) += n;
                }
            }
        }
        out
    }

    pub fn user_count(&self) -> usize {
        self.counts().values().sum::<u64>() as usize
    }

    pub fn fixed_total(&self) -> u64 {
        self.inner.lock().deal.fixed_total()
    }

    /// Resolves when the last worker has left a running test.
    pub async fn all_gone(&self) {
        let token = self.all_gone.lock().clone();
        token.cancelled().await
    }

    /// Moves to `target` users in Locust's batches (`max(1, floor(rate))` users every
    /// `batch / rate` seconds), telling every worker its counts at each step.
    pub async fn ramp(&self, target: u64, rate: f64, stop_timeout: Duration) {
        info!(
            target: "locusta.runners",
            "Sending spawn jobs of {target} users at {rate:.2} spawn rate to {} ready workers",
            self.ready_workers()
        );
        let (batch, interval) = crate::limits::batches(rate);
        let batch = usize::try_from(batch).unwrap_or(usize::MAX);
        {
            let mut inner = self.inner.lock();
            inner.testing = true;
            inner.stop_timeout = stop_timeout.as_secs_f64();
        }
        loop {
            let began = Instant::now();
            let done = {
                let mut inner = self.inner.lock();
                let workers = live_workers(&inner);
                let current = inner.deal.len();
                let target = target as usize;
                if current < target {
                    inner.deal.add(&workers, batch.min(target - current));
                } else if current > target {
                    inner.deal.remove(current - batch.min(current - target));
                }
                self.send_spawns(&mut inner);
                // Reached, or stuck (no workers, only full fixed-count types).
                inner.deal.len() == target || inner.deal.len() == current
            };
            if done {
                break;
            }
            tokio::time::sleep(interval.saturating_sub(began.elapsed())).await;
        }
        // As Locust: up to a second for the workers' reports to add up to the target.
        let deadline = Instant::now() + Duration::from_secs(1);
        while (self.user_count() as u64) != target && Instant::now() < deadline {
            let _ = tokio::time::timeout(Duration::from_millis(100), self.changed.notified()).await;
        }
        let dispatched = self.inner.lock().deal.totals();
        let total: u64 = dispatched.values().sum();
        for id in self.inner.lock().workers.keys() {
            let data = Value::Map(vec![(Value::from("user_count"), Value::from(total))]);
            self.send(id, "spawning_complete", data);
        }
        let pairs: Vec<String> = dispatched
            .iter()
            .map(|(name, n)| format!("{}: {n}", serde_json::Value::from(name.as_str())))
            .collect();
        info!(
            target: "locusta.runners",
            "All users spawned: {{{}}} ({total} total users)",
            pairs.join(", ")
        );
    }

    /// Deals the running users again over the workers there are now, as from zero.
    fn redistribute(&self, inner: &mut Inner) {
        if !inner.testing {
            return;
        }
        let workers = live_workers(inner);
        info!(
            target: "locusta.runners",
            "Dealing {} users over {} workers again",
            inner.deal.len(),
            workers.len()
        );
        inner.deal.redeal(&workers);
        self.send_spawns(inner);
    }

    /// Every worker's absolute counts, all types included, with a fresh timestamp.
    fn send_spawns(&self, inner: &mut Inner) {
        let now = crate::stats::unix_now();
        let timestamp = if now > inner.last_timestamp {
            now
        } else {
            inner.last_timestamp + 1e-6
        };
        inner.last_timestamp = timestamp;
        for (id, counts) in inner.deal.per_worker(&live_workers(inner)) {
            let spawn = Spawn {
                timestamp,
                user_classes_count: counts,
                host: self.host.lock().clone(),
                stop_timeout: Some(inner.stop_timeout),
                parsed_options: BTreeMap::new(),
            };
            self.send(&id, "spawn", to_value(&spawn));
        }
    }

    pub fn reset_stats(&self) {
        self.stats.reset();
        info!(target: "locusta.runners", "Resetting stats\n");
    }

    /// Ends the test: every worker is told to quit and gets `stop_timeout` plus a grace
    /// period to send its final report.
    pub async fn quit(&self, stop_timeout: Duration) {
        let ids: Vec<String> = {
            let mut inner = self.inner.lock();
            inner.testing = false;
            let stopped = std::mem::take(&mut inner.stopped);
            inner.workers.keys().cloned().chain(stopped).collect()
        };
        for id in &ids {
            self.send(id, "quit", Value::Nil);
        }
        // Missing workers will not answer; the others get until the deadline.
        let deadline = Instant::now() + stop_timeout + QUIT_GRACE;
        let answered = || {
            self.inner
                .lock()
                .workers
                .values()
                .all(|n| n.state == NodeState::Missing)
        };
        while !answered() && Instant::now() < deadline && !self.aborted.is_cancelled() {
            let _ = tokio::time::timeout(Duration::from_millis(100), self.changed.notified()).await;
        }
    }

    /// A second Ctrl-C: stop waiting for the workers' last reports.
    pub fn abort(&self) {
        self.aborted.cancel();
    }

    fn on_message(&self, identity: &str, message: Message) {
        let id = identity;
        let mut inner = self.inner.lock();
        let known = inner.workers.contains_key(id);
        match message.kind.as_str() {
            "client_ready" => {
                inner.stopped.remove(id);
                let next = inner.indices.len() as u64;
                let index = *inner.indices.entry(id.to_string()).or_insert(next);
                self.send(id, "ack", to_value(&Ack { index }));
                inner.workers.insert(
                    id.to_string(),
                    Node {
                        index,
                        state: NodeState::Ready,
                        heartbeat: HEARTBEAT_LIVENESS,
                        cpu: 0.0,
                        memory: 0,
                        users: BTreeMap::new(),
                        cpu_warned: false,
                    },
                );
                let n = inner.workers.len();
                info!(target: "locusta.runners", "{id} (index {index}) reported as ready. {n} workers connected.");
                self.redistribute(&mut inner);
            }
            "heartbeat" if known => {
                let state = field(&message.data, "state").and_then(Value::as_str);
                let cpu = field(&message.data, "current_cpu_usage").and_then(number);
                let node = inner.workers.get_mut(id).expect("known");
                let was_missing = node.state == NodeState::Missing;
                node.heartbeat = HEARTBEAT_LIVENESS;
                node.cpu = cpu.filter(|c| c.is_finite()).unwrap_or(0.0);
                node.memory = field(&message.data, "current_memory_usage")
                    .and_then(number)
                    .filter(|m| m.is_finite() && *m >= 0.0)
                    .map_or(0, |m| m as u64);
                node.state = match state {
                    Some("spawning") => NodeState::Spawning,
                    Some("running") => NodeState::Running,
                    _ => NodeState::Ready,
                };
                if let Some(cpu) = cpu.filter(|c| *c > 90.0)
                    && !node.cpu_warned
                {
                    node.cpu_warned = true;
                    warn!(target: "locusta.runners", "Worker {id} exceeded cpu threshold ({cpu:.0}%)");
                }
                self.send(id, "heartbeat", Value::Nil);
                if was_missing {
                    info!(target: "locusta.runners", "Worker {id} self-healed with heartbeat, setting state to {}.", state.unwrap_or("ready"));
                    self.redistribute(&mut inner);
                }
            }
            "spawning" if known => {
                if let Some(node) = inner.workers.get_mut(id) {
                    node.state = NodeState::Spawning;
                }
            }
            "spawning_complete" if known => {
                let users = match wire::read_report(&message.data) {
                    Ok((_, users)) => users.unwrap_or_default(),
                    Err(e) => {
                        warn!(target: "locusta.runners", "Ignoring the user counts of a malformed spawning_complete from worker {id}: {e}");
                        BTreeMap::new()
                    }
                };
                if let Some(node) = inner.workers.get_mut(id) {
                    node.state = NodeState::Running;
                    node.users = users;
                }
                drop(inner);
                self.changed.notify_waiters();
                return;
            }
            "stats" => {
                // Counted even from a worker we do not know, as Locust's master does.
                let (entries, users) = match wire::read_report(&message.data) {
                    Ok(report) => report,
                    Err(e) => {
                        warn!(target: "locusta.runners", "Dropping a malformed stats message from worker {id}: {e}");
                        return;
                    }
                };
                self.stats.absorb(&entries);
                if let (Some(node), Some(users)) = (inner.workers.get_mut(id), users) {
                    node.users = users;
                }
                drop(inner);
                self.changed.notify_waiters();
                return;
            }
            "exception" => {
                let text = |k: &str| field(&message.data, k).and_then(Value::as_str);
                if let (Some(msg), Some(traceback)) = (text("msg"), text("traceback")) {
                    self.stats.record_exception(msg, traceback);
                }
            }
            "client_stopped" | "quit" if known => {
                let node = inner.workers.remove(id).expect("known");
                if message.kind == "client_stopped" {
                    inner.stopped.insert(id.to_string());
                }
                let n = inner.workers.len();
                info!(target: "locusta.runners", "Worker '{id}' (index {}) {}. {n} workers ready.", node.index, if message.kind == "quit" { "quit" } else { "stopped" });
                if inner.testing && inner.workers.is_empty() {
                    info!(target: "locusta.runners", "The last worker quit, stopping test.");
                    self.all_gone.lock().cancel();
                }
                self.redistribute(&mut inner);
            }
            "locustfile" => {
                let data = Value::Map(vec![(
                    Value::from("error"),
                    Value::from(
                        "a locusta master does not send scenario files: give each worker its own -f",
                    ),
                )]);
                self.send(id, "locustfile", data);
            }
            "logs" | "heartbeat" | "spawning" | "spawning_complete" | "client_stopped" | "quit" => {
            }
            other => debug!(target: "locusta.runners", "Ignoring message type {other} from {id}"),
        }
        drop(inner);
        self.changed.notify_waiters();
    }

    /// Once a second: a worker silent for about 4 seconds is missing and its users go to
    /// the others.
    fn check_liveness(&self) {
        let mut inner = self.inner.lock();
        let mut lost = Vec::new();
        for (id, node) in inner.workers.iter_mut() {
            if node.state == NodeState::Missing {
                continue;
            }
            node.heartbeat -= 1;
            if node.heartbeat < 0 {
                node.state = NodeState::Missing;
                node.users.clear();
                lost.push(id.clone());
            }
        }
        if lost.is_empty() {
            return;
        }
        for id in &lost {
            warn!(target: "locusta.runners", "Worker {id} failed to send heartbeat, setting state to missing.");
        }
        let live = inner
            .workers
            .values()
            .filter(|n| n.state != NodeState::Missing)
            .count();
        if inner.testing && live == 0 {
            warn!(target: "locusta.runners", "The last worker went missing, stopping test.");
            self.all_gone.lock().cancel();
        }
        self.redistribute(&mut inner);
        drop(inner);
        self.changed.notify_waiters();
    }
}

/// The workers that can take users, in Locust's order.
fn live_workers(inner: &Inner) -> Vec<String> {
    ordered(
        inner
            .workers
            .iter()
            .filter(|(_, w)| w.state != NodeState::Missing)
            .map(|(id, _)| id.clone()),
    )
}

/// The socket's loop: frames in, messages out, and the liveness tick.
async fn serve(
    socket: RouterSocket,
    mut outgoing: mpsc::UnboundedReceiver<(String, Message)>,
    master: std::sync::Weak<Master>,
) {
    let (mut send, mut recv) = socket.split();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            frame = recv.recv() => {
                let Some(master) = master.upgrade() else { return };
                match frame {
                    Ok(frame) => handle_frame(&master, frame),
                    Err(e) => debug!(target: "locusta.runners", "Receiving from a worker failed: {e}"),
                }
            }
            message = outgoing.recv() => {
                let Some((to, message)) = message else { return };
                let mut frame = ZmqMessage::from(to.into_bytes());
                frame.push_back(message.encode().into());
                if let Err(e) = send.send(frame).await {
                    debug!(target: "locusta.runners", "Sending {} failed: {e}", message.kind);
                }
            }
            _ = tick.tick() => {
                let Some(master) = master.upgrade() else { return };
                master.check_liveness();
            }
        }
    }
}

fn handle_frame(master: &Master, frame: ZmqMessage) {
    let (Some(identity), Some(payload)) = (frame.get(0), frame.get(1)) else {
        warn!(target: "locusta.runners", "Ignoring a frame without identity and payload");
        return;
    };
    let Ok(identity) = std::str::from_utf8(identity) else {
        warn!(target: "locusta.runners", "Ignoring a message from a worker whose identity is not UTF-8");
        return;
    };
    match Message::decode(payload) {
        Ok(message) => master.on_message(identity, message),
        Err(e) => {
            warn!(target: "locusta.runners", "Ignoring an unreadable message from {identity}: {e}")
        }
    }
}
