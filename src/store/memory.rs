//! A store in process memory: the last fallback (lost when the agent stops) and the tests' store.

use super::{LicenseRecord, SessionRecord, StoreError, StoreKind, TokenStore};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryStore {
    records: Mutex<HashMap<String, SessionRecord>>,
    licenses: Mutex<HashMap<String, LicenseRecord>>,
}

impl TokenStore for MemoryStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Memory
    }

    fn load(&self, session: &str) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.lock().get(session).cloned())
    }

    fn save(&self, session: &str, record: &SessionRecord) -> Result<(), StoreError> {
        self.lock().insert(session.to_string(), record.clone());
        Ok(())
    }

    fn delete(&self, session: &str) -> Result<(), StoreError> {
        self.lock().remove(session);
        Ok(())
    }

    fn load_license(&self, profile: &str) -> Result<Option<LicenseRecord>, StoreError> {
        Ok(lock(&self.licenses).get(profile).cloned())
    }

    fn save_license(&self, profile: &str, record: &LicenseRecord) -> Result<(), StoreError> {
        lock(&self.licenses).insert(profile.to_string(), record.clone());
        Ok(())
    }

    fn delete_license(&self, profile: &str) -> Result<(), StoreError> {
        lock(&self.licenses).remove(profile);
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionRecord>> {
        lock(&self.records)
    }
}
