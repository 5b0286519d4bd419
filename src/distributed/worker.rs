//! `--worker`: locusta as a worker of a Locust master (Python's or locusta's), on Locust's
//! own protocol. The master decides how many users of each type run here and paces the ramp;
//! the worker applies each `spawn` at once and reports what its users measured every 3 s.
//!
//! The `zeromq` crate neither queues before a connection exists nor reconnects a DEALER, and
//! a restarted Python master ignores workers it does not know. So liveness is ours: when the
//! master has said nothing for [`SILENCE_BEFORE_REJOIN`] the worker rebuilds its socket and
//! joins again, and when it has been silent for `--master-timeout` the worker gives up.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rmpv::Value;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, info, warn};
use zeromq::{DealerSocket, Socket, SocketOptions, SocketRecv, SocketSend, ZmqMessage};

use super::protocol::{
    Ack, Exception, Heartbeat, Message, Spawn, SpawningComplete, field, to_value,
};
use super::{WorkerOptions, node_id, wire};
use crate::engine::{RunConfig, Runner};
use crate::machine::CpuMeter;
use crate::scenario::Scenario;
use crate::stats::{Stats, unix_now};

/// Locust's intervals: a heartbeat every second, a stats report every three.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
const REPORT_INTERVAL: Duration = Duration::from_secs(3);
/// Resend `client_ready` when no `ack` came within this long (Locust's CONNECT_TIMEOUT).
const ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// The master answers every heartbeat; this much silence means it restarted or the
/// connection broke, and the worker joins again.
const SILENCE_BEFORE_REJOIN: Duration = Duration::from_secs(3);
/// At most this many `exception` messages per report, so a failing scenario cannot flood the
/// master (the console still logs every one).
const EXCEPTIONS_PER_REPORT: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ready,
    Spawning,
    Running,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Ready => "ready",
            State::Spawning => "spawning",
            State::Running => "running",
        }
    }
}

/// Why the worker stopped.
pub enum Exit {
    /// The master sent `quit`.
    Quit,
    /// Ctrl-C or SIGTERM.
    Interrupted(&'static str),
    /// The master could not be reached, or went silent for good.
    MasterGone(String),
}

struct Worker {
    options: WorkerOptions,
    scenario: Arc<Scenario>,
    config: RunConfig,
    node_id: String,
    address: String,
    socket: Option<DealerSocket>,
    state: State,
    /// Built at the first spawn of a test, with the host the master names.
    runner: Option<(Arc<Runner>, Option<String>)>,
    stats: Arc<Stats>,
    interval_start: f64,
    last_spawn: f64,
    stop_timeout: Duration,
    /// User errors already sent, by traceback.
    exceptions_sent: HashMap<String, u64>,
    /// Spawned user type names the scenario lacks, warned about once each.
    unknown_types: Vec<String>,
    cpu: CpuMeter,
    joined: bool,
    ready_sent_at: Instant,
    join_attempts: u32,
    heard_at: Instant,
    /// A `stop` in progress, and when to say `client_ready` again after it.
    stopping: Option<JoinHandle<()>>,
    ready_again_at: Option<Instant>,
}

/// Runs as a worker until the master says `quit`, a signal arrives, or the master is gone.
pub async fn run(
    options: WorkerOptions,
    scenario: Arc<Scenario>,
    config: RunConfig,
    mut signals: crate::run::Signals,
) -> Exit {
    let address = format!("tcp://{}:{}", options.master_host, options.master_port);
    let mut w = Worker {
        node_id: node_id(),
        address,
        socket: None,
        state: State::Ready,
        runner: None,
        stats: Arc::new(Stats::new(shard_count(), unix_now())),
        interval_start: unix_now(),
        last_spawn: f64::MIN,
        stop_timeout: Duration::ZERO,
        exceptions_sent: HashMap::new(),
        unknown_types: Vec::new(),
        cpu: CpuMeter::new(),
        joined: false,
        ready_sent_at: Instant::now(),
        join_attempts: 0,
        heard_at: Instant::now(),
        stopping: None,
        ready_again_at: None,
        options,
        scenario,
        config,
    };
    info!(
        target: "locusta.main",
        "Starting locusta {} as a worker of {} (id {})",
        env!("CARGO_PKG_VERSION"),
        w.address,
        w.node_id
    );
    if let Err(e) = w.join().await {
        return Exit::MasterGone(e);
    }
    let mut heartbeat = tokio::time::interval(HEARTBEAT_INTERVAL);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut report = tokio::time::interval(REPORT_INTERVAL);
    report.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let recv = async {
            match w.socket.as_mut() {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        };
        let stopped = async {
            match w.stopping.as_mut() {
                Some(j) => {
                    let _ = j.await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            received = recv => match received {
                Ok(frame) => {
                    if let Some(exit) = w.on_frame(frame).await {
                        return exit;
                    }
                }
                Err(e) => {
                    warn!(target: "locusta.runners", "Lost the connection to the master ({e}); joining again");
                    w.socket = None;
                }
            },
            _ = stopped => {
                w.stopping = None;
                w.send("client_stopped", Value::Nil).await;
                w.ready_again_at = Some(Instant::now() + w.stop_timeout);
            }
            _ = heartbeat.tick() => {
                if let Err(e) = w.tick().await {
                    w.stop_users(Duration::ZERO).await;
                    return Exit::MasterGone(e);
                }
            }
            _ = report.tick() => w.report().await,
            signal = signals.next() => {
                w.quit().await;
                return Exit::Interrupted(signal);
            }
        }
    }
}

fn shard_count() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) * 2 + 2
}

impl Worker {
    /// Opens the socket and says `client_ready`; fails only when the master stayed
    /// unreachable for the whole join budget.
    async fn join(&mut self) -> Result<(), String> {
        let budget = self.options.master_timeout * 5;
        let began = Instant::now();
        loop {
            match self.open().await {
                Ok(socket) => {
                    self.socket = Some(socket);
                    self.joined = false;
                    self.join_attempts = 0;
                    self.say_ready().await;
                    self.heard_at = Instant::now();
                    return Ok(());
                }
                Err(e) if began.elapsed() >= budget => {
                    return Err(format!(
                        "no master answers at {}: gave up after {} seconds ({e})",
                        self.address,
                        budget.as_secs()
                    ));
                }
                Err(e) => {
                    debug!(target: "locusta.runners", "Cannot reach the master yet: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn open(&self) -> Result<DealerSocket, String> {
        let mut options = SocketOptions::default();
        let identity = self
            .node_id
            .parse()
            .map_err(|e| format!("bad worker id: {e}"))?;
        options
            .peer_identity(identity)
            .connect_timeout(Duration::from_secs(5));
        let mut socket = DealerSocket::with_options(options);
        socket
            .connect(&self.address)
            .await
            .map_err(|e| e.to_string())?;
        Ok(socket)
    }

    /// `client_ready` with version -1: Locust's master then skips its version check.
    async fn say_ready(&mut self) {
        self.send("client_ready", Value::from(-1)).await;
        self.ready_sent_at = Instant::now();
        self.join_attempts += 1;
    }

    async fn send(&mut self, kind: &str, data: Value) {
        self.send_message(Message::new(kind, data, &self.node_id))
            .await;
    }

    async fn send_message(&mut self, message: Message) {
        let Some(socket) = self.socket.as_mut() else {
            return;
        };
        if let Err(e) = socket.send(ZmqMessage::from(message.encode())).await {
            debug!(target: "locusta.runners", "Could not send {} to the master: {e}", message.kind);
        }
    }

    /// Handles one frame; `Some` when the worker should exit.
    async fn on_frame(&mut self, frame: ZmqMessage) -> Option<Exit> {
        let bytes = frame.get(0)?;
        let message = match Message::decode(bytes) {
            Ok(m) => m,
            Err(e) => {
                warn!(target: "locusta.runners", "Ignoring a message from the master that cannot be read: {e}");
                return None;
            }
        };
        self.heard_at = Instant::now();
        match message.kind.as_str() {
            "ack" => {
                self.joined = true;
                self.join_attempts = 0;
                let index = rmpv::ext::from_value::<Ack>(message.data)
                    .map(|a| a.index)
                    .unwrap_or(0);
                info!(target: "locusta.runners", "Joined the master as worker index {index}");
            }
            "heartbeat" => {}
            "spawn" => self.on_spawn(&message.data).await,
            "spawning_complete" => {
                let users = field(&message.data, "user_count").and_then(Value::as_u64);
                debug!(target: "locusta.runners", "The master finished spawning ({users:?} users)");
            }
            "stop" => self.on_stop(),
            "quit" => {
                info!(target: "locusta.runners", "Got quit message from master, shutting down...");
                self.quit().await;
                return Some(Exit::Quit);
            }
            "reconnect" => {
                info!(target: "locusta.runners", "The master asked for a new connection");
                self.socket = None;
                match self.open().await {
                    Ok(s) => self.socket = Some(s),
                    Err(e) => warn!(target: "locusta.runners", "Reconnecting failed: {e}"),
                }
            }
            other => debug!(target: "locusta.runners", "Ignoring message type {other}"),
        }
        None
    }

    async fn on_spawn(&mut self, data: &Value) {
        // Locust's worker says `spawning` before looking at the message.
        self.send("spawning", Value::Nil).await;
        let spawn = match Spawn::read(data) {
            Ok(spawn) => spawn,
            Err(e) => {
                warn!(target: "locusta.runners", "Ignoring a malformed spawn message from the master: {e}");
                return;
            }
        };
        if spawn.timestamp <= self.last_spawn {
            debug!(target: "locusta.runners", "Ignoring an out-of-order spawn message");
            return;
        }
        self.last_spawn = spawn.timestamp;
        self.stop_timeout = spawn.stop_timeout();
        if self.state == State::Ready {
            self.start_test(spawn.host.clone());
        }
        self.state = State::Spawning;
        if let Some((runner, _)) = &self.runner {
            let types = runner.runnable_types();
            let mut targets = Vec::new();
            for (name, &n) in &spawn.user_classes_count {
                match types.iter().find(|(_, t)| t == name) {
                    Some((index, _)) => targets.push((*index, n)),
                    None if n > 0 && !self.unknown_types.contains(name) => {
                        warn!(
                            target: "locusta.runners",
                            "The master asked for {n} users of type {name}, which {} does not define (or -T/-E filtered out); they will not run",
                            self.options.scenario_file
                        );
                        self.unknown_types.push(name.clone());
                    }
                    None => {}
                }
            }
            runner.set_counts(&targets, self.stop_timeout);
        }
        let user_classes_count = self.counts();
        let user_count = user_classes_count.values().sum();
        self.send_message(Message::with(
            "spawning_complete",
            &SpawningComplete {
                user_classes_count,
                user_count,
            },
            &self.node_id,
        ))
        .await;
        self.state = State::Running;
    }

    /// A new test: fresh statistics, and a runner for the host the master names.
    fn start_test(&mut self, master_host: Option<String>) {
        let host = master_host.or_else(|| self.config.host.clone());
        self.stats = Arc::new(Stats::new(shard_count(), unix_now()));
        self.interval_start = unix_now();
        self.exceptions_sent.clear();
        let config = RunConfig {
            host: host.clone(),
            ..self.config.clone()
        };
        match Runner::new(self.scenario.clone(), &config, self.stats.clone()) {
            Ok(r) => self.runner = Some((Arc::new(r), host)),
            Err(e) => {
                warn!(target: "locusta.runners", "Cannot start users: {e}");
                self.runner = None;
                self.stats
                    .record_exception(&e, "locusta worker: starting the test");
            }
        }
    }

    fn counts(&self) -> BTreeMap<String, u64> {
        match &self.runner {
            Some((runner, _)) => runner.counts_with_zeros(),
            None => BTreeMap::new(),
        }
    }

    fn on_stop(&mut self) {
        info!(target: "locusta.runners", "The master stopped the test");
        self.state = State::Ready;
        let runner = self.runner.take().map(|(r, _)| r);
        let timeout = self.stop_timeout;
        self.stopping = Some(tokio::spawn(async move {
            if let Some(r) = runner {
                r.stop(timeout).await;
            }
        }));
    }

    async fn stop_users(&mut self, timeout: Duration) {
        if let Some((runner, _)) = self.runner.take() {
            runner.stop(timeout).await;
        }
        if let Some(j) = self.stopping.take() {
            let _ = j.await;
        }
    }

    /// Every second: the heartbeat, the join retry, and the master's liveness.
    async fn tick(&mut self) -> Result<(), String> {
        let silent = self.heard_at.elapsed();
        if silent >= self.options.master_timeout {
            return Err(format!(
                "the master at {} has been silent for {} seconds",
                self.address,
                silent.as_secs()
            ));
        }
        if self.socket.is_none() || (self.joined && silent >= SILENCE_BEFORE_REJOIN) {
            if self.socket.is_some() {
                warn!(target: "locusta.runners", "No word from the master for {} seconds; joining again", silent.as_secs());
            }
            self.rejoin().await;
        } else if !self.joined && self.ready_sent_at.elapsed() >= ACK_TIMEOUT {
            // Locust's CONNECT_RETRY_COUNT: 60 tries, 5 s apart.
            if self.join_attempts >= 60 {
                return Err(format!("the master at {} never answered", self.address));
            }
            self.rejoin().await;
        }
        if let Some(at) = self.ready_again_at
            && Instant::now() >= at
        {
            self.ready_again_at = None;
            self.say_ready().await;
        }
        let heartbeat = Heartbeat {
            state: self.state.name(),
            current_cpu_usage: self.cpu.sample().unwrap_or(0.0),
            current_memory_usage: crate::machine::process_rss_bytes(),
        };
        self.send_message(Message::with("heartbeat", &heartbeat, &self.node_id))
            .await;
        Ok(())
    }

    /// A new socket and `client_ready`: the master may have restarted and forgotten us, in
    /// which case the users it had started here stop until it spawns them again.
    async fn rejoin(&mut self) {
        let attempts = self.join_attempts;
        if self.joined && self.state != State::Ready {
            self.stop_users(Duration::ZERO).await;
            self.state = State::Ready;
        }
        self.socket = None;
        match self.open().await {
            Ok(s) => {
                self.socket = Some(s);
                self.joined = false;
                self.say_ready().await;
                self.join_attempts = attempts + 1;
            }
            Err(e) => debug!(target: "locusta.runners", "Cannot reach the master: {e}"),
        }
    }

    /// Every 3 seconds, in every state: the requests since the last report, and new user
    /// errors as `exception` messages.
    async fn report(&mut self) {
        let now = unix_now();
        let report = wire::report(self.stats.drain(), self.interval_start, self.counts());
        self.interval_start = now;
        self.send_message(Message::with("stats", &report, &self.node_id))
            .await;
        let mut due = Vec::new();
        for e in self.stats.exceptions() {
            let already = self.exceptions_sent.entry(e.traceback.clone()).or_default();
            while *already < e.count && due.len() < EXCEPTIONS_PER_REPORT {
                *already += 1;
                due.push(Exception {
                    msg: e.message.clone(),
                    traceback: e.traceback.clone(),
                });
            }
        }
        for payload in due {
            let message = Message::new("exception", to_value(&payload), &self.node_id);
            self.send_message(message).await;
        }
    }

    /// Stops the users, sends the final report and `quit`, and lets the frames leave.
    async fn quit(&mut self) {
        self.stop_users(Duration::ZERO).await;
        self.report().await;
        self.send("quit", Value::Nil).await;
        // The socket writes in the background; give the last frames a moment to go out.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
