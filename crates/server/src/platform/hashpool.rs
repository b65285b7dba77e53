//! A fixed pool of password-hashing workers. Each worker is a plain thread that owns one
//! Argon2 block buffer ([`HashMemory`]) and reuses it, so memory stays at (workers × 19 MiB at
//! the default parameters) whatever the load; glibc would otherwise keep a freed 19 MiB
//! buffer in every thread's arena.
//!
//! Admission is bounded: each lane holds at most `queue` waiting jobs, and a job that has not
//! started by its deadline is dropped. Both answer [`Busy`] (the caller answers 503 with
//! `Retry-After`). Jobs of the known-browser lane (a browser that signed in as this user
//! before) always start before those of the normal lane, so a flood of unknown sign-ins does
//! not queue a returning user behind it.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use trustplane_core::hashing::HashMemory;

/// `[hashing]` configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HashingConfig {
    /// Hashing workers (threads, each with its own Argon2 memory). 0: one per CPU core.
    pub workers: usize,
    /// Waiting hashes per lane beyond which a sign-in is refused at once (503).
    pub queue: usize,
    /// How long a sign-in may wait for a worker before it is refused (503), in milliseconds.
    pub queue_deadline_ms: u64,
}

impl Default for HashingConfig {
    fn default() -> Self {
        HashingConfig {
            workers: 0,
            queue: 256,
            queue_deadline_ms: 2_000,
        }
    }
}

impl HashingConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.queue == 0 || self.queue_deadline_ms == 0 {
            return Err("hashing: queue and queue_deadline_ms must be at least 1".into());
        }
        if self.workers > 256 {
            return Err("hashing: at most 256 workers".into());
        }
        Ok(())
    }

    /// Workers to start: the configured number, or the number of cores.
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }
    }
}

/// Which queue a hash waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// A browser that signed in successfully as this user before.
    Known,
    /// Everyone else (and every hash that is not a sign-in).
    Normal,
}

tokio::task_local! {
    /// The lane of the hashes run by the current request (set around a sign-in).
    pub static LANE: Lane;
}

/// The lane of the current task (normal outside a [`LANE`] scope).
pub fn current_lane() -> Lane {
    LANE.try_with(|l| *l).unwrap_or(Lane::Normal)
}

/// The pool refused or dropped the job: too many waiting, or its deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

type Work = Box<dyn FnOnce(&mut HashMemory) + Send>;

struct Job {
    work: Work,
    deadline: Instant,
}

#[derive(Default)]
struct Queues {
    known: VecDeque<Job>,
    normal: VecDeque<Job>,
    paused: bool,
    /// While paused: jobs that may still start (see [`HashPool::resume_for`]).
    budget: usize,
    shutdown: bool,
    /// Jobs started since the pool started.
    started: u64,
}

struct Shared {
    q: Mutex<Queues>,
    ready: Condvar,
    capacity: usize,
    deadline: Duration,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queues> {
        // A worker never panics while holding the lock (jobs run outside it).
        self.q.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct HashPool {
    shared: Arc<Shared>,
    workers: usize,
}

impl HashPool {
    /// Starts `cfg.worker_count()` workers (each allocates its buffer on first use).
    pub fn start(cfg: &HashingConfig) -> HashPool {
        let shared = Arc::new(Shared {
            q: Mutex::new(Queues::default()),
            ready: Condvar::new(),
            capacity: cfg.queue.max(1),
            deadline: Duration::from_millis(cfg.queue_deadline_ms.max(1)),
        });
        let workers = cfg.worker_count();
        for i in 0..workers {
            let s = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("tp-hash-{i}"))
                .spawn(move || worker(&s));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a hashing worker");
            }
        }
        HashPool { shared, workers }
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Runs `f` on a worker's memory, in `lane`. [`Busy`] when the lane is full or the job did
    /// not start within the queue deadline.
    pub async fn run<T: Send + 'static>(
        &self,
        lane: Lane,
        f: impl FnOnce(&mut HashMemory) -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let deadline = Instant::now() + self.shared.deadline;
        let job = Job {
            work: Box::new(move |mem| {
                // The caller gave up (deadline, client gone): skip the hash.
                if !tx.is_closed() {
                    let _ = tx.send(f(mem));
                }
            }),
            deadline,
        };
        {
            let mut q = self.shared.lock();
            let queue = match lane {
                Lane::Known => &mut q.known,
                Lane::Normal => &mut q.normal,
            };
            if queue.len() >= self.shared.capacity {
                metrics::counter!("trustplane_hash_refused_total", "why" => "queue_full")
                    .increment(1);
                return Err(Busy);
            }
            queue.push_back(job);
        }
        self.shared.ready.notify_one();
        match tokio::time::timeout_at(deadline.into(), rx).await {
            Ok(Ok(v)) => Ok(v),
            _ => {
                metrics::counter!("trustplane_hash_refused_total", "why" => "deadline")
                    .increment(1);
                Err(Busy)
            }
        }
    }

    /// Jobs waiting (known lane, normal lane).
    pub fn queued(&self) -> (usize, usize) {
        let q = self.shared.lock();
        (q.known.len(), q.normal.len())
    }

    /// Stops starting jobs (running ones finish); for maintenance and tests.
    pub fn pause(&self) {
        let mut q = self.shared.lock();
        q.paused = true;
        q.budget = 0;
    }

    /// Starts jobs again after [`HashPool::pause`].
    pub fn resume(&self) {
        self.shared.lock().paused = false;
        self.shared.ready.notify_all();
    }

    /// Lets `n` more jobs start while paused (in lane order), then stays paused.
    pub fn resume_for(&self, n: usize) {
        self.shared.lock().budget += n;
        self.shared.ready.notify_all();
    }

    /// Jobs started since the pool started (each is one password hash or verification).
    pub fn started(&self) -> u64 {
        self.shared.lock().started
    }
}

impl Drop for HashPool {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.ready.notify_all();
    }
}

fn worker(s: &Shared) {
    // Grown on first use to the current parameters, then kept for the process's life.
    let mut mem = HashMemory::default();
    loop {
        let job = {
            let mut q = s.lock();
            loop {
                if q.shutdown {
                    return;
                }
                if (!q.paused || q.budget > 0)
                    && let Some(j) = q.known.pop_front().or_else(|| q.normal.pop_front())
                {
                    if q.paused {
                        q.budget -= 1;
                    }
                    q.started += 1;
                    break j;
                }
                q = s.ready.wait(q).unwrap_or_else(|p| p.into_inner());
            }
        };
        // Past its deadline: the caller has answered 503 already; dropping the job closes
        // its channel.
        if Instant::now() < job.deadline {
            (job.work)(&mut mem);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(workers: usize, queue: usize, deadline_ms: u64) -> HashPool {
        HashPool::start(&HashingConfig {
            workers,
            queue,
            queue_deadline_ms: deadline_ms,
        })
    }

    #[tokio::test]
    async fn known_lane_starts_first_and_full_lanes_refuse() {
        let p = Arc::new(pool(1, 3, 60_000));
        p.pause();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (i, lane) in [Lane::Normal, Lane::Normal, Lane::Normal, Lane::Known]
            .into_iter()
            .enumerate()
        {
            let (pool, order) = (p.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                pool.run(lane, move |_| order.lock().unwrap().push(i)).await
            }));
            // Enqueued in this order before the next one is submitted.
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let (known, normal) = p.queued();
                if known + normal > i {
                    break;
                }
                assert!(Instant::now() < deadline, "job {i} never queued");
                tokio::task::yield_now().await;
            }
        }
        // The normal lane is full (3): a fourth normal job is refused at once.
        assert_eq!(p.run(Lane::Normal, |_| ()).await, Err(Busy));
        p.resume();
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ok(()));
        }
        assert_eq!(*order.lock().unwrap(), vec![3, 0, 1, 2]);
    }

    #[tokio::test]
    async fn a_job_past_its_deadline_is_refused_and_never_runs() {
        let p = pool(1, 8, 30);
        p.pause();
        let ran = Arc::new(Mutex::new(false));
        let r = ran.clone();
        // Waits until its deadline (30 ms) passes on a paused pool.
        assert_eq!(
            p.run(Lane::Normal, move |_| *r.lock().unwrap() = true)
                .await,
            Err(Busy)
        );
        p.resume();
        // The pool still works, and the expired job was skipped.
        assert_eq!(p.run(Lane::Normal, |_| 7).await, Ok(7));
        assert!(!*ran.lock().unwrap());
    }
}
