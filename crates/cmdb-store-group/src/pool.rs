//! [`BlockingPool`]: a few named threads that run a store's blocking work for async callers.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use cmdb_core::StoreError;
use tokio::sync::oneshot;

type Work = Box<dyn FnOnce() + Send>;

/// Threads that run blocking closures and hand their results back to async callers.
///
/// The caller's future only waits on a channel, so an async worker is never held by the disk
/// i/o, fsync or lock inside the closure. Works under any executor (or none). A closure that
/// panics fails its own call; the thread survives. Dropping the pool lets queued work finish,
/// without waiting for
/// it.
#[derive(Debug)]
pub struct BlockingPool {
    sender: Option<mpsc::Sender<Work>>,
    threads: Vec<JoinHandle<()>>,
}

impl BlockingPool {
    /// A pool of `threads` threads (at least one) named `name`.
    ///
    /// # Panics
    /// When the operating system refuses to start a thread.
    pub fn new(name: &str, threads: usize) -> Self {
        let (sender, receiver) = mpsc::channel::<Work>();
        let receiver = Arc::new(Mutex::new(receiver));
        let threads = (0..threads.max(1))
            .map(|i| {
                let receiver = Arc::clone(&receiver);
                std::thread::Builder::new()
                    .name(format!("{name}-{i}"))
                    .spawn(move || {
                        loop {
                            let next = receiver
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .recv();
                            let Ok(work) = next else { break };
                            // A panic drops the closure's reply channel: its caller gets an error.
                            let _ = catch_unwind(AssertUnwindSafe(work));
                        }
                    })
                    .expect("start a store thread")
            })
            .collect();
        BlockingPool {
            sender: Some(sender),
            threads,
        }
    }

    /// Runs `work` on one of the pool's threads and returns its result.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the work panicked or the pool is shutting down.
    pub async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job: Work = Box::new(move || {
            let _ = reply.send(work());
        });
        let sent = self.sender.as_ref().is_some_and(|s| s.send(job).is_ok());
        if !sent {
            return Err(StoreError::Backend(
                "the store's threads have stopped".into(),
            ));
        }
        answer
            .await
            .map_err(|_| StoreError::Backend("a store thread panicked".into()))
    }
}

impl Drop for BlockingPool {
    /// Closes the queue and returns at once: the threads finish the work already queued, then
    /// end. Nothing waits on the dropping thread.
    fn drop(&mut self) {
        self.sender = None;
        self.threads.clear();
    }
}
