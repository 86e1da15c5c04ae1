//! Admission control for artifact transfers: at most `slots` bodies are sent at once, waiting
//! requests are admitted strictly in arrival order (tokio's semaphore is FIFO), and a request
//! that waited longer than `max_wait` is turned away with 503 and a Retry-After, so a rack that
//! powers on at once is served in turn instead of every machine timing out together.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The queue in front of the artifact transfers.
#[derive(Debug, Clone)]
pub struct Admission {
    slots: Arc<Semaphore>,
    max_wait: Duration,
    retry_after: Duration,
    arrived: Arc<AtomicU64>,
    admitted: Arc<AtomicU64>,
}

/// A transfer slot, held until the response body is finished or dropped.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    /// Position in the admission order (0 for the first request admitted).
    pub admitted: u64,
}

/// A request that waited its bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overloaded {
    /// Seconds to tell the client to wait before retrying.
    pub retry_after_s: u64,
}

impl Admission {
    /// `slots` concurrent transfers (at least 1); a request waits at most `max_wait`.
    pub fn new(slots: usize, max_wait: Duration) -> Admission {
        Admission {
            slots: Arc::new(Semaphore::new(slots.max(1))),
            max_wait,
            retry_after: max_wait.max(Duration::from_secs(1)),
            arrived: Arc::new(AtomicU64::new(0)),
            admitted: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Waits for a slot in arrival order, or gives up after the bound.
    pub async fn enter(&self) -> Result<Slot, Overloaded> {
        self.arrived.fetch_add(1, Ordering::Relaxed);
        let sem = self.slots.clone();
        match tokio::time::timeout(self.max_wait, sem.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Slot {
                _permit: permit,
                admitted: self.admitted.fetch_add(1, Ordering::Relaxed),
            }),
            _ => Err(Overloaded {
                retry_after_s: self.retry_after.as_secs().max(1),
            }),
        }
    }

    /// Free slots now (for status pages and tests).
    pub fn free(&self) -> usize {
        self.slots.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waiters_are_admitted_in_arrival_order_and_late_ones_turned_away() {
        let adm = Admission::new(2, Duration::from_secs(10));
        let a = adm.enter().await.unwrap();
        let b = adm.enter().await.unwrap();
        assert_eq!((a.admitted, b.admitted), (0, 1));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..4u32 {
            let adm = adm.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let r = adm.enter().await;
                tx.send((i, r.map(|s| s.admitted))).unwrap();
                tokio::time::sleep(Duration::from_secs(1)).await;
            });
            // Let each waiter queue before the next arrives.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(a);
        let first = rx.recv().await.unwrap();
        assert_eq!(first, (0, Ok(2)));
        drop(b);
        assert_eq!(rx.recv().await.unwrap(), (1, Ok(3)));
        // Waiter 0 and 1 hold their slots for 1 s; 2 and 3 follow in order.
        assert_eq!(rx.recv().await.unwrap(), (2, Ok(4)));
        assert_eq!(rx.recv().await.unwrap(), (3, Ok(5)));
        // With every slot held past the bound, a newcomer is turned away.
        let adm = Admission::new(1, Duration::from_secs(3));
        let _hold = adm.enter().await.unwrap();
        assert_eq!(
            adm.enter().await.unwrap_err(),
            Overloaded { retry_after_s: 3 }
        );
    }
}
