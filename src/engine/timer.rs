//! The users' waits, ended on their instant rather than on tokio's next millisecond.
//!
//! tokio's timer counts whole milliseconds: a wait's end rounds up to the next tick, and the
//! sleep until that tick rounds up again, so `constant: 0.01` waited 11.4 ms on average. Worse,
//! every user whose wait ended within the same millisecond woke on the same tick: they ran one
//! after another and sent together, finished together, waited from nearly the same instant,
//! and so woke together again. Users bunch up that way until most of them send at once, and
//! each request's measured time then holds the work of the users that ran between its write and
//! its read. With 50 users at wrk's rate, that put the p99 at 1.3 times wrk's on the same nginx
//! (`bench/perf.py`, same-load run).
//!
//! On Linux one timerfd per run serves every wait: the waits sit in a heap, earliest first, the
//! timerfd is armed for the earliest, and a task reading it wakes whoever is due. A wait costs
//! a heap insertion; a wake-up costs reading and re-arming the timerfd. Elsewhere, or when no
//! timerfd can be had, tokio's timer does the waiting.

use std::time::Duration;

/// One per run (it lives in the run's context); its driver task ends with it.
#[derive(Default)]
pub struct Timer {
    #[cfg(target_os = "linux")]
    clock: std::sync::OnceLock<Option<timerfd::Clock>>,
}

impl Timer {
    /// Waits `d` from now. Must be called in the run's tokio runtime.
    pub async fn sleep(&self, d: Duration) {
        #[cfg(target_os = "linux")]
        if let Some(at) = std::time::Instant::now().checked_add(d)
            && let Some(clock) = self.clock.get_or_init(timerfd::Clock::start)
        {
            return clock.sleep_until(at).await;
        }
        tokio::time::sleep(d).await
    }
}

#[cfg(target_os = "linux")]
mod timerfd {
    use std::cmp::Ordering;
    use std::collections::BinaryHeap;
    use std::future::Future;
    use std::os::fd::OwnedFd;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};
    use std::time::{Duration, Instant};

    use parking_lot::Mutex;
    use rustix::time::{
        Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
        timerfd_settime,
    };
    use tokio::io::Interest;
    use tokio::io::unix::AsyncFd;

    pub struct Clock {
        shared: Arc<Shared>,
        driver: tokio::task::AbortHandle,
    }

    struct Shared {
        fd: AsyncFd<OwnedFd>,
        queue: Mutex<Queue>,
    }

    #[derive(Default)]
    struct Queue {
        waits: BinaryHeap<Entry>,
        /// What the timerfd is armed for, if anything.
        armed: Option<Instant>,
    }

    /// A wait in the heap. One whose sleeper has gone (a user stopped mid-wait) stays until
    /// its instant, then wakes nobody.
    struct Entry {
        at: Instant,
        slot: Arc<Mutex<Slot>>,
    }

    #[derive(Default)]
    struct Slot {
        fired: bool,
        waker: Option<Waker>,
    }

    impl Clock {
        /// The run's clock: a timerfd registered with the current runtime, and the task that
        /// reads it. `None` (tokio's timer then) outside a runtime or without a timerfd.
        pub fn start() -> Option<Clock> {
            let runtime = tokio::runtime::Handle::try_current().ok()?;
            let fd = timerfd_create(
                TimerfdClockId::Monotonic,
                TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
            )
            .ok()?;
            // SAFETY: the OwnedFd is open, and the AsyncFd owns it until it is dropped.
            let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.ok()?;
            let shared = Arc::new(Shared {
                fd,
                queue: Mutex::default(),
            });
            let driver = runtime.spawn(drive(shared.clone())).abort_handle();
            Some(Clock { shared, driver })
        }

        pub async fn sleep_until(&self, at: Instant) {
            let slot = Arc::new(Mutex::new(Slot::default()));
            self.shared.insert(Entry {
                at,
                slot: slot.clone(),
            });
            Sleep(slot).await
        }
    }

    impl Drop for Clock {
        fn drop(&mut self) {
            self.driver.abort();
        }
    }

    impl Shared {
        fn insert(&self, entry: Entry) {
            let mut queue = self.queue.lock();
            if queue.armed.is_none_or(|armed| entry.at < armed) {
                self.arm(&mut queue, Some(entry.at));
            }
            queue.waits.push(entry);
        }

        /// Arms the timerfd for `at` (or disarms it). A failure leaves it as it was: the
        /// driver still fires whatever is due at its next wake-up.
        fn arm(&self, queue: &mut Queue, at: Option<Instant>) {
            // Zero disarms a timerfd, so a due instant is armed a nanosecond ahead.
            let value = at.map_or(Duration::ZERO, |at| {
                at.saturating_duration_since(Instant::now())
                    .max(Duration::from_nanos(1))
            });
            let spec = Itimerspec {
                it_interval: Timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                it_value: Timespec {
                    tv_sec: value.as_secs().try_into().unwrap_or(i64::MAX),
                    tv_nsec: value.subsec_nanos().into(),
                },
            };
            if timerfd_settime(self.fd.get_ref(), TimerfdTimerFlags::empty(), &spec).is_ok() {
                queue.armed = at;
            }
        }

        /// Takes every wait due by `now` into `due` and arms the timerfd for the next one.
        fn take_due(&self, now: Instant, due: &mut Vec<Arc<Mutex<Slot>>>) {
            let mut queue = self.queue.lock();
            while let Some(entry) = queue.waits.peek()
                && entry.at <= now
            {
                due.extend(queue.waits.pop().map(|e| e.slot));
            }
            let next = queue.waits.peek().map(|e| e.at);
            self.arm(&mut queue, next);
        }
    }

    /// Reads the timerfd whenever it fires and wakes the sleepers that are due, outside the
    /// queue's lock.
    async fn drive(shared: Arc<Shared>) {
        let mut due = Vec::new();
        loop {
            let Ok(mut ready) = shared.fd.readable().await else {
                return;
            };
            // Reading resets the timerfd; once it would block, tokio waits for its next edge.
            // No other failure is expected; one would be cleared the same way, never looped on.
            let mut expirations = [0u8; 8];
            if let Ok(Err(_)) = ready.try_io(|fd| Ok(rustix::io::read(fd, &mut expirations)?)) {
                ready.clear_ready();
            }
            shared.take_due(Instant::now(), &mut due);
            for slot in due.drain(..) {
                let mut slot = slot.lock();
                slot.fired = true;
                if let Some(waker) = slot.waker.take() {
                    waker.wake();
                }
            }
        }
    }

    /// Ready once the driver has fired its slot; dropped before that, it leaves the entry to
    /// wake nobody.
    struct Sleep(Arc<Mutex<Slot>>);

    impl Future for Sleep {
        type Output = ();

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let mut slot = self.0.lock();
            if slot.fired {
                return Poll::Ready(());
            }
            match &mut slot.waker {
                Some(waker) => waker.clone_from(cx.waker()),
                None => slot.waker = Some(cx.waker().clone()),
            }
            Poll::Pending
        }
    }

    impl Drop for Sleep {
        fn drop(&mut self) {
            self.0.lock().waker = None;
        }
    }

    // Earliest first in std's max-heap.
    impl Ord for Entry {
        fn cmp(&self, other: &Self) -> Ordering {
            other.at.cmp(&self.at)
        }
    }

    impl PartialOrd for Entry {
        fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
            Some(self.cmp(other))
        }
    }

    impl PartialEq for Entry {
        fn eq(&self, other: &Self) -> bool {
            self.at == other.at
        }
    }

    impl Eq for Entry {}
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use parking_lot::Mutex;

    use super::*;

    /// Waits of `ms` milliseconds each, started together; the order in which they ended.
    async fn ending_order(timer: Arc<Timer>, ms: &[u64]) -> Vec<u64> {
        let ended = Arc::new(Mutex::new(Vec::new()));
        let waits: Vec<_> = ms
            .iter()
            .map(|&ms| {
                let (timer, ended) = (timer.clone(), ended.clone());
                tokio::spawn(async move {
                    let began = Instant::now();
                    timer.sleep(Duration::from_millis(ms)).await;
                    assert!(
                        began.elapsed() >= Duration::from_millis(ms),
                        "a {ms} ms wait ended early"
                    );
                    ended.lock().push(ms);
                })
            })
            .collect();
        for wait in waits {
            wait.await.unwrap();
        }
        Arc::try_unwrap(ended).unwrap().into_inner()
    }

    #[tokio::test]
    async fn waits_end_in_order_and_never_early_on_either_runtime() {
        // Inserted latest first: each insertion arms the timerfd for an earlier instant.
        let timer = Arc::new(Timer::default());
        assert_eq!(
            ending_order(timer.clone(), &[60, 40, 20, 1]).await,
            [1, 20, 40, 60]
        );
        // And again on the same timer, earliest first, with a zero wait among them.
        assert_eq!(ending_order(timer, &[0, 15, 30]).await, [0, 15, 30]);

        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let order = multi
            .spawn(ending_order(Arc::new(Timer::default()), &[45, 5, 25]))
            .await
            .unwrap();
        assert_eq!(order, [5, 25, 45]);
        multi.shutdown_background();
    }

    #[tokio::test]
    async fn a_wait_given_up_leaves_the_others_on_time() {
        let timer = Arc::new(Timer::default());
        // The earliest wait is dropped before its instant: its entry wakes nobody, and the
        // timerfd, armed for it, is re-armed for the next when it fires.
        let given_up = tokio::time::timeout(
            Duration::from_millis(5),
            timer.sleep(Duration::from_millis(20)),
        );
        let kept = ending_order(timer.clone(), &[40, 60]);
        let (given_up, kept) = tokio::join!(given_up, kept);
        assert!(given_up.is_err(), "the given-up wait was cut short");
        assert_eq!(kept, [40, 60]);
    }

    #[tokio::test]
    async fn many_waits_at_once_all_end() {
        let timer = Arc::new(Timer::default());
        let ms: Vec<u64> = (0..2000).map(|i| i % 37).collect();
        assert_eq!(ending_order(timer, &ms).await.len(), ms.len());
    }
}
