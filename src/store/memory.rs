//! A store in process memory: the last fallback (lost when the agent stops) and the tests' store.

use super::{SessionRecord, StoreError, StoreKind, TokenStore};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryStore {
    records: Mutex<HashMap<String, SessionRecord>>,
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
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionRecord>> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
