//! The schedule's task and the users' side of the queue, on paused time: instants, counts,
//! users started, lateness and drops are exact.

use super::*;

/// Users that take instants and spend `service(now)` on each, as the real ones run a task.
struct FakeUsers {
    model: Arc<OpenModel>,
    count: AtomicU64,
    service: fn(Duration) -> Duration,
    start: Instant,
    /// Each iteration's (intended offset, lag) in ms.
    seen: Arc<Mutex<Vec<(u64, u64)>>>,
    stop: CancellationToken,
}

impl Users for FakeUsers {
    fn user_count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    fn start_one(&self, user_type: usize) {
        self.count.fetch_add(1, Relaxed);
        let (model, stop, seen) = (self.model.clone(), self.stop.clone(), self.seen.clone());
        let (service, start) = (self.service, self.start);
        tokio::spawn(async move {
            model.user_ready(user_type);
            while let Some(at) = model.next(user_type, &stop).await {
                let now = Instant::now();
                let ms = |d: Duration| d.as_millis() as u64;
                seen.lock().push((ms(at - start), ms(now - at)));
                tokio::time::sleep(service(now - start)).await;
                model.done();
            }
        });
    }
}

fn model(rate: f64, secs: u64, max_users: u64) -> (Arc<OpenModel>, Schedule) {
    let stages = vec![RateStage {
        duration: Some(Duration::from_secs(secs)),
        rate,
    }];
    let config = OpenConfig {
        stages: stages.clone(),
        spacing: Spacing::Uniform,
        max_users,
    };
    let model = Arc::new(OpenModel::new(config, 2, Arc::new(Stats::new(1, 0.0))));
    (model, Schedule::new(stages, Spacing::Uniform, 1))
}

async fn run(
    model: &Arc<OpenModel>,
    schedule: Schedule,
    service: fn(Duration) -> Duration,
    mut pick: impl FnMut() -> Option<usize>,
) -> FakeUsers {
    let users = FakeUsers {
        model: model.clone(),
        count: AtomicU64::new(0),
        service,
        start: Instant::now(),
        seen: Arc::default(),
        stop: CancellationToken::new(),
    };
    drive(model, schedule, &mut pick, &users).await;
    // Let the last iterations finish.
    tokio::time::sleep(Duration::from_secs(5)).await;
    users
}

#[tokio::test(start_paused = true)]
async fn a_fast_server_needs_one_user_and_every_iteration_starts_on_time() {
    let (model, schedule) = model(100.0, 2, 50);
    let users = run(&model, schedule, |_| Duration::from_millis(5), || Some(0)).await;
    let c = model.counts();
    assert_eq!(
        (c.scheduled, c.started, c.late, c.dropped),
        (200, 200, 0, 0)
    );
    assert_eq!(
        users.user_count(),
        1,
        "5 ms of work every 10 ms: one user is enough"
    );
    let seen = users.seen.lock();
    let intended: Vec<u64> = seen.iter().map(|s| s.0).collect();
    assert_eq!(intended, (0..200).map(|i| i * 10).collect::<Vec<_>>());
    assert!(seen.iter().all(|s| s.1 == 0), "no lag");
}

#[tokio::test(start_paused = true)]
async fn a_slow_server_gets_more_users_and_the_rate_is_kept() {
    // 100/s of 95 ms each: about ten busy at once, however long the run.
    let (model, schedule) = model(100.0, 3, 50);
    let users = run(&model, schedule, |_| Duration::from_millis(95), || Some(0)).await;
    let c = model.counts();
    assert_eq!(
        (c.scheduled, c.started, c.late, c.dropped),
        (300, 300, 0, 0)
    );
    assert_eq!(users.user_count(), 10);
}

#[tokio::test(start_paused = true)]
async fn at_the_cap_iterations_wait_are_late_and_charged_and_overflow_is_dropped() {
    // The server holds every answer until 995 ms: 5 users are all busy from 40 ms on; the
    // queue holds 5 per type; the rest of the stall is dropped.
    let (model, schedule) = model(100.0, 2, 5);
    let stall = |since: Duration| {
        let end = Duration::from_millis(995);
        if since < end {
            end - since
        } else {
            Duration::from_millis(1)
        }
    };
    let users = run(&model, schedule, stall, || Some(0)).await;
    let c = model.counts();
    assert_eq!(users.user_count(), 5);
    assert_eq!(c.scheduled, 200);
    // Users start at 0..40 ms; arrivals at 50..90 ms fill the queue; 100..990 ms are
    // dropped (90); the queued five start at 995 ms, 905 to 945 ms late.
    assert_eq!(c.dropped, 90, "{c:?}");
    assert_eq!(c.started, 110);
    assert_eq!(c.late, 5);
    let seen = users.seen.lock();
    let lags: Vec<u64> = seen
        .iter()
        .filter(|s| (50..100).contains(&s.0))
        .map(|s| s.1)
        .collect();
    assert_eq!(lags, [945, 935, 925, 915, 905]);
    assert_eq!(c.lag_max_ms.round(), 945.0);
}

#[tokio::test(start_paused = true)]
async fn arrivals_go_to_the_type_picked_and_each_type_gets_its_own_users() {
    let (model, schedule) = model(10.0, 1, 50);
    let mut n = 0;
    let users = run(
        &model,
        schedule,
        |_| Duration::from_millis(250),
        || {
            n += 1;
            Some(if n % 4 == 0 { 1 } else { 0 })
        },
    )
    .await;
    assert_eq!(model.counts().started, 10);
    // Type 0: 8 arrivals 100 ms apart (some 200 ms), 250 ms each: 3 users; type 1: 2
    // arrivals 400 ms apart: 1 user.
    assert_eq!(users.user_count(), 4);
}

#[tokio::test(start_paused = true)]
async fn users_leave_once_the_schedule_is_over_and_the_queue_empty() {
    let (model, schedule) = model(10.0, 1, 5);
    let users = run(&model, schedule, |_| Duration::from_millis(10), || Some(0)).await;
    assert!(model.finished.is_cancelled());
    // Every fake user's loop ended: nothing is idle or queued.
    assert_eq!(model.queues[0].idle.load(Relaxed), 0);
    assert_eq!(model.counts().queued, 0);
    assert_eq!(model.counts().busy, 0);
    drop(users);
}
