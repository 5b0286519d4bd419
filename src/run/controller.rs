//! A test you can steer: one task owns the users, the statistics and the reporter, and takes
//! commands over a channel (tokio's mini-redis pattern): start a test, change its users and
//! spawn rate, stop it, reset its statistics, start a new one after a stop. The headless
//! command line drives it today; the web UI and a master's API are the next drivers, and none
//! of them keeps its own copy of the run logic.
//!
//! Every second the task ticks the reporter (tables, CSV files, history) and publishes a
//! [`Snapshot`] on a `watch` channel, so readers never take a lock the users take.

use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{info, warn};

use super::gates::AbortCheck;
use super::load::{Ending, Load};
use super::options::TestOptions;
use super::reporter::{Reporter, Shared};
use super::users::Users;
use crate::gate::Threshold;
use crate::scenario::Scenario;
use crate::stats::Stats;

/// The answer to a start: why it could not start, in a line for the user.
pub type StartReply = oneshot::Sender<Result<(), String>>;

/// Builds the users of a new test (its host and user types): a fresh engine per test, so
/// feeders, `-i` counts and connections start over; a master hands back itself.
pub type MakeUsers = Box<dyn FnMut(&TestOptions) -> Result<Users, String> + Send>;

/// What a driver asks of the controller.
#[derive(Debug)]
pub enum Command {
    /// A new test; after a stop, with fresh statistics. Refused while a test runs.
    Start(TestOptions, Option<StartReply>),
    /// Move the running test to this many users at this rate (steady loads only).
    Edit { users: u64, spawn_rate: f64 },
    /// Stop the users (they finish their task within the stop timeout); the test ends.
    Stop(Ending),
    /// Stop every user at once (a second Ctrl-C).
    Abort,
    /// The statistics (and the user errors) start over; the users keep running.
    ResetStats,
    /// The controller ends (after its test has stopped): what [`Controller::shutdown`] sends.
    Shutdown,
}

/// Where the controller is, as Locust's runner states name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No test yet.
    Ready,
    /// Users are being started (or stopped) towards the test's count.
    Spawning,
    Running,
    Stopping,
    Stopped,
}

impl State {
    /// Locust's name of the state, as its API answers it.
    pub fn name(self) -> &'static str {
        match self {
            State::Ready => "ready",
            State::Spawning => "spawning",
            State::Running => "running",
            State::Stopping => "stopping",
            State::Stopped => "stopped",
        }
    }

    /// A test is on (spawning, running or stopping).
    pub fn is_active(self) -> bool {
        matches!(self, State::Spawning | State::Running | State::Stopping)
    }
}

/// What the controller publishes: once a second, and at every change of state.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub state: State,
    pub user_count: usize,
    /// How many tests have started.
    pub tests: u64,
    /// Why the last test ended, once it has.
    pub ending: Option<Ending>,
    /// Users per type as the last test ran, taken before stopping took them away.
    pub user_counts: Vec<(String, u64)>,
    /// Users per type now.
    pub running_counts: Vec<(String, u64)>,
    /// The options of the current (or last) test, edits included.
    pub options: Option<TestOptions>,
    /// When the current (or last) test started, Unix seconds.
    pub started: Option<f64>,
    /// When the last test was told to stop, Unix seconds.
    pub ended: Option<f64>,
    /// The statistics and history as of the last tick, when the reporter shares them.
    pub shared: Option<Shared>,
}

/// What a driver besides the owner holds (the web UI): send commands, read snapshots.
#[derive(Clone)]
pub struct Handle {
    commands: mpsc::UnboundedSender<Command>,
    snapshot: watch::Receiver<Snapshot>,
}

impl Handle {
    /// False once the controller has shut down.
    pub fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok()
    }

    pub fn watch(&self) -> watch::Receiver<Snapshot> {
        self.snapshot.clone()
    }

    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.borrow().clone()
    }
}

/// The handle drivers hold.
pub struct Controller {
    commands: mpsc::UnboundedSender<Command>,
    snapshot: watch::Receiver<Snapshot>,
    task: JoinHandle<Reporter>,
}

/// Waits until `tests` tests have started and the last one has stopped.
pub async fn stopped(snapshot: &mut watch::Receiver<Snapshot>, tests: u64) -> Snapshot {
    let seen = snapshot
        .wait_for(|s| s.state == State::Stopped && s.tests >= tests)
        .await
        .map(|s| s.clone());
    // Err: the task ended (a panic in it); report what was last seen.
    seen.unwrap_or_else(|_| snapshot.borrow().clone())
}

impl Controller {
    /// Starts the controller task; the reporter ticks once at once, before any user starts (as
    /// Locust writes its first table and CSV row with 0 users).
    pub fn spawn(
        make_users: MakeUsers,
        users: Users,
        stats: Arc<Stats>,
        scenario: Arc<Scenario>,
        thresholds: Vec<Threshold>,
        mut reporter: Reporter,
    ) -> Controller {
        reporter.tick();
        let (commands, rx) = mpsc::unbounded_channel();
        let (publish, snapshot) = watch::channel(Snapshot {
            state: State::Ready,
            user_count: 0,
            tests: 0,
            ending: None,
            user_counts: Vec::new(),
            running_counts: Vec::new(),
            options: None,
            started: None,
            ended: None,
            shared: reporter.shared.clone(),
        });
        let reporter = Arc::new(Mutex::new(reporter));
        let task = Task {
            make_users,
            users,
            stats,
            scenario,
            thresholds,
            reporter,
            publish,
            test: None,
        };
        Controller {
            commands,
            snapshot,
            task: tokio::spawn(task.run(rx)),
        }
    }

    pub fn send(&self, command: Command) {
        // The task lives until `shutdown`, which takes the handle: a send cannot fail first.
        let _ = self.commands.send(command);
    }

    pub fn handle(&self) -> Handle {
        Handle {
            commands: self.commands.clone(),
            snapshot: self.snapshot.clone(),
        }
    }

    /// The latest snapshot, and changes to come.
    pub fn watch(&self) -> watch::Receiver<Snapshot> {
        self.snapshot.clone()
    }

    /// Ends the controller and hands back the reporter (its CSV files and history).
    pub async fn shutdown(self) -> Option<Reporter> {
        // Handles (the web UI's) may outlive this: ask rather than wait for the channel to close.
        let _ = self.commands.send(Command::Shutdown);
        self.task.await.ok()
    }
}

/// The current test: running, stopping or stopped.
struct Test {
    options: TestOptions,
    started: f64,
    ended: Option<f64>,
    steady: bool,
    /// The ramp of a steady load (the first, then one per edit).
    ramp: Option<JoinHandle<()>>,
    /// Set when the test ends; the users then stop.
    ending: Option<Ending>,
    stopping: bool,
    user_counts: Vec<(String, u64)>,
}

struct Task {
    make_users: MakeUsers,
    users: Users,
    stats: Arc<Stats>,
    scenario: Arc<Scenario>,
    thresholds: Vec<Threshold>,
    /// Shared with the blocking thread each tick runs on (see [`Task::tick`]).
    reporter: Arc<Mutex<Reporter>>,
    publish: watch::Sender<Snapshot>,
    test: Option<Test>,
}

/// Awaits an optional task; never resolves when there is none.
async fn finished<T>(handle: &mut Option<JoinHandle<T>>) -> Option<T> {
    match handle {
        Some(h) => {
            let out = h.await.ok();
            *handle = None;
            out
        }
        None => std::future::pending().await,
    }
}

impl Task {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) -> Reporter {
        let period = Duration::from_secs(1);
        let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The test's driver and stopping tasks live here, not in `self`, so that the select
        // below can wait on them while commands borrow `self`.
        let mut driver: Option<JoinHandle<Ending>> = None;
        let mut stopping: Option<JoinHandle<()>> = None;
        loop {
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    Some(Command::Shutdown) | None => break,
                    Some(command) => self.command(command, &mut driver, &mut stopping),
                },
                ending = finished(&mut driver) => {
                    // A driver that panicked ends its test as an interrupted one would.
                    let ending = ending.unwrap_or(Ending::Interrupted("an internal error"));
                    self.begin_stop(ending, &mut driver, &mut stopping);
                }
                _ = finished(&mut stopping) => self.stopped().await,
                _ = ticker.tick() => {
                    self.tick().await;
                    self.publish_now();
                }
            }
        }
        let reporter = Arc::try_unwrap(self.reporter)
            .unwrap_or_else(|_| unreachable!("every tick has ended: nobody else holds it"));
        reporter.into_inner()
    }

    /// One tick of the reporter, on a blocking thread: folding a second of samples into the
    /// histograms, rewriting the CSV files and printing the table is CPU and file work that
    /// would otherwise hold up the users of the engine thread it ran on. Commands wait meanwhile.
    async fn tick(&mut self) {
        let reporter = self.reporter.clone();
        let ticked = tokio::task::spawn_blocking(move || reporter.lock().tick()).await;
        if let Err(e) = ticked
            && e.is_panic()
        {
            std::panic::resume_unwind(e.into_panic());
        }
    }

    fn state(&self) -> State {
        match &self.test {
            None => State::Ready,
            Some(t) if t.ending.is_none() && t.ramp.as_ref().is_some_and(|r| !r.is_finished()) => {
                State::Spawning
            }
            Some(t) if t.ending.is_none() => State::Running,
            Some(t) if t.stopping => State::Stopping,
            Some(_) => State::Stopped,
        }
    }

    fn publish_now(&self) {
        let state = self.state();
        let (ending, user_counts, options, started, ended) = match &self.test {
            Some(t) => (
                t.ending,
                t.user_counts.clone(),
                Some(t.options.clone()),
                Some(t.started),
                t.ended,
            ),
            None => (None, Vec::new(), None, None, None),
        };
        let running_counts = self.users.counts().into_iter().collect();
        self.publish.send_modify(|s| {
            s.state = state;
            s.user_count = self.users.user_count();
            s.ending = ending;
            s.user_counts = user_counts;
            s.running_counts = running_counts;
            s.options = options;
            s.started = started;
            s.ended = ended;
            s.shared = self.reporter.lock().shared.clone();
        });
    }

    fn command(
        &mut self,
        command: Command,
        driver: &mut Option<JoinHandle<Ending>>,
        stopping: &mut Option<JoinHandle<()>>,
    ) {
        match command {
            Command::Start(options, reply) => {
                let result = if self.state().is_active() {
                    Err("A test is running: stop it before starting another".to_string())
                } else {
                    self.start(options, driver)
                };
                if let Err(e) = &result {
                    warn!(target: "locusta.main", "{e}");
                }
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
            Command::Edit { users, spawn_rate } => self.edit(users, spawn_rate),
            Command::Stop(ending) => {
                if self.state() == State::Running {
                    self.begin_stop(ending, driver, stopping);
                }
            }
            Command::Abort => self.users.abort(),
            Command::ResetStats => {
                self.users.reset_stats();
                self.stats.clear_exceptions();
                self.reporter.lock().refresh_shared();
            }
            Command::Shutdown => {}
        }
        self.publish_now();
    }

    /// A new test: fresh statistics (after the first), the checks of its thresholds from
    /// now, its load driven by a task of its own.
    fn start(
        &mut self,
        options: TestOptions,
        driver: &mut Option<JoinHandle<Ending>>,
    ) -> Result<(), String> {
        self.users = (self.make_users)(&options)?;
        let mut reporter = self.reporter.lock();
        reporter.users = self.users.clone();
        if self.test.is_some() {
            self.stats.clear_all();
            reporter.history = Default::default();
            reporter.refresh_shared();
        }
        drop(reporter);
        let load = Load::new(&options, &self.scenario);
        load.announce(&options);
        announce(&load, &self.users);
        let abort_check = AbortCheck::new(&self.thresholds);
        let tripped = abort_check.tripped.clone();
        self.reporter.lock().abort_check = Some(abort_check);
        let ramp = load.ramp(&self.users, &options);
        let steady = ramp.is_some();
        let users = self.users.clone();
        let test = options.clone();
        *driver = Some(tokio::spawn(async move {
            tokio::select! {
                ending = load.until_done(&users, &test) => ending,
                _ = users.iterations_done() => Ending::Iterations,
                _ = users.workers_gone() => Ending::WorkersGone,
                _ = tripped.cancelled() => Ending::ThresholdFailed,
            }
        }));
        self.test = Some(Test {
            options,
            started: crate::stats::unix_now(),
            ended: None,
            steady,
            ramp,
            ending: None,
            stopping: false,
            user_counts: Vec::new(),
        });
        self.publish.send_modify(|s| s.tests += 1);
        Ok(())
    }

    fn edit(&mut self, users: u64, spawn_rate: f64) {
        let Some(test) = self.test.as_mut().filter(|t| t.ending.is_none()) else {
            return;
        };
        if !test.steady {
            warn!(target: "locusta.main", "A load shape sets the users of this test: it cannot be edited");
            return;
        }
        if let Some(r) = test.ramp.take() {
            r.abort();
        }
        test.options.users = Some(users);
        test.options.spawn_rate = spawn_rate;
        let (runner, stop_timeout) = (self.users.clone(), test.options.stop_timeout);
        test.ramp = Some(tokio::spawn(async move {
            runner.ramp(users, spawn_rate, stop_timeout).await;
        }));
    }

    /// The test ends: its users stop (within the stop timeout), in a task of their own so
    /// that reports and commands (an abort) go on meanwhile.
    fn begin_stop(
        &mut self,
        ending: Ending,
        driver: &mut Option<JoinHandle<Ending>>,
        stopping: &mut Option<JoinHandle<()>>,
    ) {
        log_ending(ending);
        if let Some(d) = driver.take() {
            d.abort();
        }
        let Some(test) = self.test.as_mut() else {
            return;
        };
        if let Some(r) = test.ramp.take() {
            r.abort();
        }
        test.ending = Some(ending);
        test.ended = Some(crate::stats::unix_now());
        test.user_counts = self.users.counts().into_iter().collect();
        let (users, timeout) = (self.users.clone(), test.options.stop_timeout);
        *stopping = Some(tokio::spawn(async move { users.stop(timeout).await }));
        test.stopping = true;
        self.publish_now();
    }

    async fn stopped(&mut self) {
        if let Some(test) = self.test.as_mut() {
            test.stopping = false;
        }
        // The test's last numbers, in the files and for readers, at once rather than at the
        // next second.
        self.tick().await;
        self.publish_now();
    }
}

fn log_ending(ending: Ending) {
    match ending {
        Ending::RunTime => info!(target: "locusta.main", "--run-time limit reached, shutting down"),
        Ending::ShapeDone => info!(target: "locusta.main", "Shape test completed, shutting down"),
        Ending::ThresholdFailed | Ending::Iterations | Ending::WorkersGone => {}
        Ending::Requested => {
            info!(target: "locusta.main", "Stopping the test, as asked through the web UI")
        }
        Ending::Interrupted(signal) => info!(
            target: "locusta.main",
            "Got {signal} signal, stopping users (send it again to stop at once)"
        ),
    }
}

/// Locust's warnings about a load before it starts.
fn announce(load: &Load, users: &Users) {
    let peak = load.users();
    let fixed = users.fixed_total();
    if fixed > peak {
        warn!(
            target: "locusta.main",
            "Total fixed_count of User classes ({fixed}) is greater than the specified number of users ({peak}), so not all will be spawned."
        );
    }
    // Each user keeps a connection open, and the run needs a few dozen files of its own.
    if let Some(limit) = crate::machine::raise_open_files_limit()
        && limit < peak + 100
    {
        warn!(
            target: "locusta.main",
            "The open-files limit is {limit}, too low for {peak} users (each keeps a connection open): \
             requests will fail with 'Too many open files'. Raise the hard limit (ulimit -Hn) or run fewer users."
        );
    }
    if load.spawn_rate() > 100.0 {
        warn!(
            target: "locusta.main",
            "Your selected spawn rate is very high (>100), and this is known to sometimes cause issues. Do you really need to ramp up that fast?"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::runner_recording_into;
    use crate::stats::RequestSample;

    fn options(users: u64, run_time: Option<Duration>) -> TestOptions {
        TestOptions {
            users: Some(users),
            spawn_rate: 100.0,
            run_time,
            stages: None,
            stop_timeout: Duration::ZERO,
            reset_stats: false,
            host: None,
            user_types: Vec::new(),
        }
    }

    fn controller() -> (Controller, Arc<Stats>, Users) {
        let stats = Arc::new(Stats::new(1, 0.0));
        let (scenario, runner) = runner_recording_into(stats.clone());
        let users = Users::Local(runner);
        let reporter = Reporter::new(stats.clone(), users.clone(), None, false);
        let same = users.clone();
        let make: MakeUsers = Box::new(move |_| Ok(same.clone()));
        let c = Controller::spawn(
            make,
            users.clone(),
            stats.clone(),
            scenario,
            Vec::new(),
            reporter,
        );
        (c, stats, users)
    }

    async fn users_reach(snapshot: &mut watch::Receiver<Snapshot>, n: usize) {
        snapshot.wait_for(|s| s.user_count == n).await.unwrap();
    }

    /// On paused time: start, edit the users down, reset, stop; then a new test with fresh
    /// statistics, as the web UI's "New test" will ask.
    #[tokio::test(start_paused = true)]
    async fn a_test_is_started_steered_stopped_and_started_again() {
        let (c, stats, users) = controller();
        let mut snapshot = c.watch();
        assert_eq!(snapshot.borrow().state, State::Ready);
        c.send(Command::Start(options(8, None), None));
        users_reach(&mut snapshot, 8).await;
        assert_eq!(snapshot.borrow().state, State::Running);
        // A start while a test runs is refused: same test, same users.
        c.send(Command::Start(options(5, None), None));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!((snapshot.borrow().tests, users.user_count()), (1, 8));
        c.send(Command::Edit {
            users: 3,
            spawn_rate: 100.0,
        });
        users_reach(&mut snapshot, 3).await;
        // Locust's order is B, A, B, B, ...: 3 users are one A and two B.
        let counts: Vec<(String, u64)> = users.counts().into_iter().collect();
        assert_eq!(counts, [("A".to_string(), 1), ("B".to_string(), 2)]);
        c.send(Command::Stop(Ending::Interrupted("test")));
        let done = stopped(&mut snapshot, 1).await;
        assert_eq!(done.ending, Some(Ending::Interrupted("test")));
        assert_eq!(done.user_counts, counts);
        assert_eq!(users.user_count(), 0);

        stats.record(&RequestSample {
            method: "GET",
            name: "/old",
            response_time_ms: 1.0,
            content_length: 0,
            error: Some("boom"),
            timestamp: 1.0,
        });
        c.send(Command::Start(options(2, None), None));
        users_reach(&mut snapshot, 2).await;
        {
            let state = stats.collect();
            assert_eq!(state.entries().filter(|e| e.name == "/old").count(), 0);
            assert!(state.errors().iter().all(|e| e.name != "/old"));
        }
        assert_eq!(snapshot.borrow().tests, 2);
        c.send(Command::Stop(Ending::Interrupted("test")));
        stopped(&mut snapshot, 2).await;
        assert!(c.shutdown().await.is_some());
    }

    /// The run time ends the test by itself, never early.
    #[tokio::test(start_paused = true)]
    async fn the_run_time_ends_a_test() {
        let (c, _, _) = controller();
        let mut snapshot = c.watch();
        let started = Instant::now();
        c.send(Command::Start(
            options(4, Some(Duration::from_secs(5))),
            None,
        ));
        let done = stopped(&mut snapshot, 1).await;
        assert_eq!(done.ending, Some(Ending::RunTime));
        assert!(started.elapsed() >= Duration::from_secs(5));
        assert_eq!(done.user_counts.iter().map(|(_, n)| n).sum::<u64>(), 4);
        assert_eq!(done.tests, 1);
        c.shutdown().await;
    }

    /// Spawning while the ramp runs, then running: the state the web UI shows.
    #[tokio::test(start_paused = true)]
    async fn a_slow_ramp_is_spawning_until_every_user_started() {
        let (c, _, _) = controller();
        let mut snapshot = c.watch();
        let mut slow = options(4, None);
        slow.spawn_rate = 1.0;
        c.send(Command::Start(slow, None));
        snapshot
            .wait_for(|s| s.state == State::Spawning && s.user_count >= 1)
            .await
            .unwrap();
        let running = snapshot
            .wait_for(|s| s.state == State::Running)
            .await
            .unwrap()
            .clone();
        assert_eq!(running.user_count, 4);
        assert_eq!(running.options.map(|o| o.users), Some(Some(4)));
        c.send(Command::Stop(Ending::Requested));
        assert_eq!(
            stopped(&mut snapshot, 1).await.ending,
            Some(Ending::Requested)
        );
        c.shutdown().await;
    }

    /// A start the users cannot be built for is answered with why, and nothing starts.
    #[tokio::test(start_paused = true)]
    async fn a_start_that_cannot_build_its_users_is_refused_with_the_reason() {
        let stats = Arc::new(Stats::new(1, 0.0));
        let (scenario, runner) = runner_recording_into(stats.clone());
        let users = Users::Local(runner);
        let reporter = Reporter::new(stats.clone(), users.clone(), None, false);
        let make: MakeUsers = Box::new(|_| Err("no host for B".to_string()));
        let c = Controller::spawn(make, users, stats, scenario, Vec::new(), reporter);
        let (reply, answer) = oneshot::channel();
        c.send(Command::Start(options(2, None), Some(reply)));
        assert_eq!(answer.await.unwrap(), Err("no host for B".to_string()));
        let s = c.watch().borrow().clone();
        assert_eq!((s.state, s.tests, s.user_count), (State::Ready, 0, 0));
        c.shutdown().await;
    }
}
