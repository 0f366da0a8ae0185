//! Which connections are waiting for a request, and since when: at the connection cap the one
//! idle longest is asked to close, so idle sockets cannot hold every slot until the read timeout.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

pub struct IdleConnections {
    /// What the entries' times count from.
    epoch: Instant,
    entries: Mutex<Entries>,
}

impl Default for IdleConnections {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            entries: Mutex::default(),
        }
    }
}

#[derive(Default)]
struct Entries {
    next_id: u64,
    by_id: HashMap<u64, Arc<Entry>>,
}

/// One connection's state, written by the connection without the registry's lock (twice a
/// request), read under it only at the connection cap.
struct Entry {
    /// Nanoseconds from the epoch, plus one, since the connection waits for a request; 0 while
    /// it is busy.
    idle_since: AtomicU64,
    evict: Notify,
}

/// A connection's place in the registry; dropping it removes the entry.
pub struct IdleHandle {
    id: u64,
    registry: Arc<IdleConnections>,
    entry: Arc<Entry>,
}

impl IdleConnections {
    pub fn register(registry: &Arc<Self>) -> IdleHandle {
        let entry = Arc::new(Entry {
            idle_since: AtomicU64::new(0),
            evict: Notify::new(),
        });
        let mut entries = registry.lock();
        let id = entries.next_id;
        entries.next_id += 1;
        entries.by_id.insert(id, entry.clone());
        IdleHandle {
            id,
            registry: registry.clone(),
            entry,
        }
    }

    /// Asks the connection idle longest to close; false when none is idle (all are busy).
    pub fn evict_longest_idle(&self) -> bool {
        let entries = self.lock();
        // One load of each entry: one that turns busy meanwhile must not be read as idle.
        let Some((_, entry)) = entries
            .by_id
            .values()
            .filter_map(|entry| {
                let since = entry.idle_since.load(Ordering::Acquire);
                (since != 0).then_some((since, entry))
            })
            .min_by_key(|(since, _)| *since)
        else {
            return false;
        };
        // Not picked twice while it closes; `notify_one` keeps the wake-up if it is not waiting.
        entry.idle_since.store(0, Ordering::Release);
        entry.evict.notify_one();
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl IdleHandle {
    /// The connection waits for a request from now on, which it returns.
    pub fn set_idle(&self) -> Instant {
        let now = Instant::now();
        let since = now
            .saturating_duration_since(self.registry.epoch)
            .as_nanos();
        let since = u64::try_from(since).unwrap_or(u64::MAX - 1) + 1;
        self.entry.idle_since.store(since, Ordering::Release);
        now
    }

    /// The connection is serving a request.
    pub fn set_busy(&self) {
        self.entry.idle_since.store(0, Ordering::Release);
    }

    /// Completes when the server wants this connection's slot.
    pub async fn evicted(&self) {
        self.entry.evict.notified().await;
    }
}

impl Drop for IdleHandle {
    fn drop(&mut self) {
        self.registry.lock().by_id.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_connection_idle_longest_gives_way_and_busy_ones_never_do() {
        let registry = Arc::new(IdleConnections::default());
        let busy = IdleConnections::register(&registry);
        let older = IdleConnections::register(&registry);
        let newer = IdleConnections::register(&registry);
        older.set_idle();
        std::thread::sleep(std::time::Duration::from_millis(2));
        newer.set_idle();
        assert!(registry.evict_longest_idle());
        tokio::time::timeout(std::time::Duration::from_secs(1), older.evicted())
            .await
            .expect("the oldest idle connection is told to go");
        assert!(registry.evict_longest_idle(), "then the next idle one");
        tokio::time::timeout(std::time::Duration::from_secs(1), newer.evicted())
            .await
            .unwrap();
        assert!(!registry.evict_longest_idle(), "a busy connection stays");
        drop(busy);
    }
}
