//! Choosing the store: `SSO_AGENT_STORE` forces one; otherwise the best that works, stepping
//! down with a warning that says what is lost (Linux: Secret Service → keyutils → memory;
//! macOS: Keychain → memory). Never a silent mock.

use super::keyring::{fix_for, KeyringStore};
use super::{MemoryStore, SessionRecord, StoreError, StoreKind, TokenStore};
use std::str::FromStr;
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// How long a store may take to answer the probe (a keyring waiting on an unlock prompt).
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreChoice {
    Auto,
    Only(StoreKind),
}

impl FromStr for StoreChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Ok(match text {
            "" | "auto" => Self::Auto,
            "secret-service" => Self::Only(StoreKind::SecretService),
            "keychain" => Self::Only(StoreKind::Keychain),
            "keyutils" => Self::Only(StoreKind::Keyutils),
            "memory" => Self::Only(StoreKind::Memory),
            other => {
                return Err(format!(
                    "SSO_AGENT_STORE={other} is not a store; use auto, secret-service, keychain, keyutils or memory"
                ))
            }
        })
    }
}

pub struct OpenedStore {
    pub store: Arc<dyn TokenStore>,
    /// One line for each store passed over, with the reason (already logged as a warning).
    pub passed_over: Vec<String>,
}

/// Opens the store `SSO_AGENT_STORE` names (default: auto).
pub fn open_from_env() -> Result<OpenedStore, StoreError> {
    let choice = std::env::var("SSO_AGENT_STORE").unwrap_or_default();
    let choice = choice.parse().map_err(|reason| StoreError::Unavailable {
        store: StoreKind::Memory,
        reason,
        fix: "unset SSO_AGENT_STORE or give it a valid name",
    })?;
    open(choice)
}

/// Opens the chosen store; a forced store that does not work is an error, not a fallback.
pub fn open(choice: StoreChoice) -> Result<OpenedStore, StoreError> {
    let candidates = match choice {
        StoreChoice::Only(kind) => vec![kind],
        StoreChoice::Auto => auto_order(),
    };
    let mut passed_over = Vec::new();
    for kind in candidates {
        match usable(kind) {
            Ok(store) => {
                if !passed_over.is_empty() || kind == StoreKind::Memory {
                    tracing::warn!("using the {kind} store: tokens are {}", kind.durability());
                }
                return Ok(OpenedStore { store, passed_over });
            }
            Err(err) if choice == StoreChoice::Auto => {
                tracing::warn!("not using the {kind} store: {err}");
                passed_over.push(err.to_string());
            }
            Err(err) => return Err(err),
        }
    }
    unreachable!("the memory store is always usable and always last")
}

fn auto_order() -> Vec<StoreKind> {
    if cfg!(target_os = "macos") {
        vec![StoreKind::Keychain, StoreKind::Memory]
    } else {
        vec![
            StoreKind::SecretService,
            StoreKind::Keyutils,
            StoreKind::Memory,
        ]
    }
}

/// Connects to `kind` and proves it can write, read and delete an item.
fn usable(kind: StoreKind) -> Result<Arc<dyn TokenStore>, StoreError> {
    if kind == StoreKind::Memory {
        return Ok(Arc::new(MemoryStore::default()));
    }
    // A keyring can block on an unlock prompt nobody answers: probe on a thread, with a limit.
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(KeyringStore::connect(kind).and_then(|store| {
            // An item of its own, so two processes probing at once never see each other's.
            let item = probe_item_name();
            let probe = SessionRecord::new("https://probe.invalid/start", "us-east-1");
            store.save(&item, &probe)?;
            let read = store.load(&item)?;
            store.delete(&item)?;
            match read {
                Some(record) if record == probe => Ok(store),
                _ => Err(StoreError::Unavailable {
                    store: kind,
                    reason: "an item written could not be read back".into(),
                    fix: fix_for(kind),
                }),
            }
        }));
    });
    match receiver.recv_timeout(PROBE_TIMEOUT) {
        Ok(result) => result.map(|store| Arc::new(store) as Arc<dyn TokenStore>),
        Err(_) => Err(StoreError::TimedOut {
            store: kind,
            seconds: PROBE_TIMEOUT.as_secs(),
            fix: fix_for(kind),
        }),
    }
}

fn probe_item_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or(0);
    format!("__sso-agent-probe-{}-{nanos}__", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_names_parse() {
        assert_eq!("auto".parse(), Ok(StoreChoice::Auto));
        assert_eq!(
            "keyutils".parse(),
            Ok(StoreChoice::Only(StoreKind::Keyutils))
        );
        assert!("mock"
            .parse::<StoreChoice>()
            .unwrap_err()
            .contains("SSO_AGENT_STORE=mock"));
    }

    #[test]
    fn memory_is_always_usable() {
        let opened = open(StoreChoice::Only(StoreKind::Memory)).unwrap();
        assert_eq!(opened.store.kind(), StoreKind::Memory);
    }
}
