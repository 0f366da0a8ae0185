//! A store that counts its reads: `status` reports them, so "one keyring read per session at
//! start, none per request" is something a benchmark can check rather than a claim.

use super::{LicenseRecord, SessionRecord, StoreError, StoreKind, TokenStore};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub struct CountingStore {
    inner: Arc<dyn TokenStore>,
    reads: AtomicU64,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn TokenStore>) -> Self {
        Self {
            inner,
            reads: AtomicU64::new(0),
        }
    }

    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
}

impl TokenStore for CountingStore {
    fn kind(&self) -> StoreKind {
        self.inner.kind()
    }

    fn load(&self, session: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.load(session)
    }

    fn save(&self, session: &str, record: &SessionRecord) -> Result<(), StoreError> {
        self.inner.save(session, record)
    }

    fn delete(&self, session: &str) -> Result<(), StoreError> {
        self.inner.delete(session)
    }

    fn load_license(&self, profile: &str) -> Result<Option<LicenseRecord>, StoreError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.load_license(profile)
    }

    fn save_license(&self, profile: &str, record: &LicenseRecord) -> Result<(), StoreError> {
        self.inner.save_license(profile, record)
    }

    fn delete_license(&self, profile: &str) -> Result<(), StoreError> {
        self.inner.delete_license(profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn loads_are_counted_and_passed_through() {
        let store = CountingStore::new(Arc::new(MemoryStore::default()));
        let record = SessionRecord::new("https://x.example/start", "us-east-1");
        store.save("s", &record).unwrap();
        assert_eq!(store.load("s").unwrap(), Some(record));
        assert_eq!(store.load("t").unwrap(), None);
        assert_eq!(store.reads(), 2);
    }
}
