//! Which connections are waiting for a request, and since when: at the connection cap the one
//! idle longest is asked to close, so idle sockets cannot hold every slot until the read timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

#[derive(Default)]
pub struct IdleConnections {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    next_id: u64,
    by_id: HashMap<u64, Entry>,
}

struct Entry {
    /// `Some` while the connection waits for a request.
    idle_since: Option<Instant>,
    evict: Arc<Notify>,
}

/// A connection's place in the registry; dropping it removes the entry.
pub struct IdleHandle {
    id: u64,
    registry: Arc<IdleConnections>,
    evict: Arc<Notify>,
}

impl IdleConnections {
    pub fn register(registry: &Arc<Self>) -> IdleHandle {
        let evict = Arc::new(Notify::new());
        let mut entries = registry.lock();
        let id = entries.next_id;
        entries.next_id += 1;
        entries.by_id.insert(
            id,
            Entry {
                idle_since: None,
                evict: evict.clone(),
            },
        );
        IdleHandle {
            id,
            registry: registry.clone(),
            evict,
        }
    }

    /// Asks the connection idle longest to close; false when none is idle (all are busy).
    pub fn evict_longest_idle(&self) -> bool {
        let mut entries = self.lock();
        let Some(entry) = entries
            .by_id
            .values_mut()
            .filter(|entry| entry.idle_since.is_some())
            .min_by_key(|entry| entry.idle_since)
        else {
            return false;
        };
        // Not picked twice while it closes; `notify_one` keeps the wake-up if it is not waiting.
        entry.idle_since = None;
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
    pub fn set_idle(&self, idle: bool) {
        if let Some(entry) = self.registry.lock().by_id.get_mut(&self.id) {
            entry.idle_since = idle.then(Instant::now);
        }
    }

    /// Completes when the server wants this connection's slot.
    pub async fn evicted(&self) {
        self.evict.notified().await;
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
        older.set_idle(true);
        std::thread::sleep(std::time::Duration::from_millis(2));
        newer.set_idle(true);
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
