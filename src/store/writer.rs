//! Store calls from async code, for a store that may stop answering: a locked Secret Service can
//! wait forever on an unlock prompt nobody sees. Every call is bounded in time, and a session's
//! newest record wins even when an older write that timed out completes later.

use super::{SessionRecord, StoreError, StoreKind, TokenStore};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long one store call may take (`SSO_AGENT_STORE_TIMEOUT_MS` changes it, for tests).
pub const STORE_TIMEOUT: Duration = Duration::from_secs(10);

pub fn store_timeout() -> Duration {
    std::env::var("SSO_AGENT_STORE_TIMEOUT_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(STORE_TIMEOUT, Duration::from_millis)
}

const TIMED_OUT_FIX: &str = "unlock the keyring or answer its prompt; meanwhile the agent keeps \
    the tokens in memory and saves them once it answers";

/// Runs a blocking store call off the async threads, giving up after `store_timeout()`. A call
/// that gives up keeps running on its thread; its result is dropped.
pub async fn bounded<T: Send + 'static>(
    kind: StoreKind,
    timeout: Duration,
    call: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::time::timeout(timeout, tokio::task::spawn_blocking(call)).await {
        Ok(Ok(result)) => result,
        Ok(Err(_panicked)) => Err(StoreError::Unavailable {
            store: kind,
            reason: "the store call failed unexpectedly".into(),
            fix: "see the agent's log",
        }),
        Err(_elapsed) => Err(StoreError::TimedOut {
            store: kind,
            seconds: timeout.as_secs().max(1),
            fix: TIMED_OUT_FIX,
        }),
    }
}

/// One session's item, written latest-wins: `write` records the wanted content first, and every
/// write (a retry included) stores whatever is newest when it gets the store.
pub struct RecordWriter {
    store: Arc<dyn TokenStore>,
    session: String,
    wanted: Arc<Mutex<Wanted>>,
    /// The version the store holds; held while writing, so writes never overlap.
    written: Arc<Mutex<u64>>,
    /// A copy of `written` that can be read while a write is stuck.
    written_version: Arc<AtomicU64>,
    timeout: Duration,
}

#[derive(Clone)]
struct Wanted {
    version: u64,
    /// `None`: the item should not exist (logged out).
    record: Option<SessionRecord>,
}

impl RecordWriter {
    pub fn new(store: Arc<dyn TokenStore>, session: &str) -> Self {
        Self {
            store,
            session: session.to_string(),
            wanted: Arc::new(Mutex::new(Wanted {
                version: 0,
                record: None,
            })),
            written: Arc::new(Mutex::new(0)),
            written_version: Arc::new(AtomicU64::new(0)),
            timeout: store_timeout(),
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn kind(&self) -> StoreKind {
        self.store.kind()
    }

    /// Reads the item (bounded in time).
    pub async fn load(&self) -> Result<Option<SessionRecord>, StoreError> {
        let (store, session) = (self.store.clone(), self.session.clone());
        bounded(self.kind(), self.timeout, move || store.load(&session)).await
    }

    /// Wants `record` stored (`None`: removed) and tries once. On an error the wanted content
    /// stays pending for `flush`.
    pub async fn write(&self, record: Option<SessionRecord>) -> Result<(), StoreError> {
        {
            let mut wanted = lock(&self.wanted);
            wanted.version += 1;
            wanted.record = record;
        }
        self.flush().await
    }

    /// Whether the store lacks the newest content.
    pub fn pending(&self) -> bool {
        lock(&self.wanted).version > self.written_version.load(Ordering::SeqCst)
    }

    /// Stores the newest wanted content, if the store lacks it.
    pub async fn flush(&self) -> Result<(), StoreError> {
        if !self.pending() {
            return Ok(());
        }
        let (store, session) = (self.store.clone(), self.session.clone());
        let (wanted, written, written_version) = (
            self.wanted.clone(),
            self.written.clone(),
            self.written_version.clone(),
        );
        bounded(self.kind(), self.timeout, move || {
            let mut written = lock(&written);
            let newest = lock(&wanted).clone();
            if *written >= newest.version {
                return Ok(());
            }
            match &newest.record {
                Some(record) => store.save(&session, record)?,
                None => store.delete(&session)?,
            }
            *written = newest.version;
            written_version.store(newest.version, Ordering::SeqCst);
            Ok(())
        })
        .await
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use std::sync::atomic::AtomicBool;

    /// A store whose calls block while `stuck` is set, as a Secret Service waiting on a prompt.
    struct Stalling {
        inner: MemoryStore,
        stuck: Arc<AtomicBool>,
    }

    impl TokenStore for Stalling {
        fn kind(&self) -> StoreKind {
            StoreKind::SecretService
        }
        fn load(&self, session: &str) -> Result<Option<SessionRecord>, StoreError> {
            self.inner.load(session)
        }
        fn save(&self, session: &str, record: &SessionRecord) -> Result<(), StoreError> {
            while self.stuck.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            self.inner.save(session, record)
        }
        fn delete(&self, session: &str) -> Result<(), StoreError> {
            self.inner.delete(session)
        }
        fn load_license(
            &self,
            profile: &str,
        ) -> Result<Option<crate::store::LicenseRecord>, StoreError> {
            self.inner.load_license(profile)
        }
        fn save_license(
            &self,
            profile: &str,
            record: &crate::store::LicenseRecord,
        ) -> Result<(), StoreError> {
            self.inner.save_license(profile, record)
        }
        fn delete_license(&self, profile: &str) -> Result<(), StoreError> {
            self.inner.delete_license(profile)
        }
    }

    fn record(region: &str) -> SessionRecord {
        SessionRecord::new("https://example.awsapps.com/start", region)
    }

    #[tokio::test]
    async fn a_stuck_write_times_out_and_the_newest_record_wins_when_the_store_answers() {
        let stuck = Arc::new(AtomicBool::new(true));
        let store = Arc::new(Stalling {
            inner: MemoryStore::default(),
            stuck: stuck.clone(),
        });
        let writer =
            RecordWriter::new(store.clone(), "corp").with_timeout(Duration::from_millis(100));
        let first = writer.write(Some(record("us-east-1"))).await;
        assert!(
            matches!(first, Err(StoreError::TimedOut { .. })),
            "{first:?}"
        );
        let second = writer.write(Some(record("eu-west-1"))).await;
        assert!(matches!(second, Err(StoreError::TimedOut { .. })));
        assert!(writer.pending());

        // The store answers again: the stuck write finishes, and a retry stores the newest.
        stuck.store(false, Ordering::SeqCst);
        writer.flush().await.unwrap();
        assert!(!writer.pending());
        assert_eq!(
            store.load("corp").unwrap().unwrap().region,
            "eu-west-1",
            "the older write, finishing late, did not win"
        );
        writer.write(None).await.unwrap();
        assert_eq!(store.load("corp").unwrap(), None);
    }
}
