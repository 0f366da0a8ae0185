//! Where a session's secrets live: the OS keyring (Secret Service or kernel keyutils on Linux,
//! the Keychain on macOS), or memory when nothing else works. One item per sso-session holds
//! the registration and tokens as one JSON value, so every update is one atomic write.

mod counting;
mod keyring;
mod license_record;
mod memory;
mod record;
mod select;
mod writer;

pub use counting::CountingStore;
pub use license_record::LicenseRecord;
pub use memory::MemoryStore;
pub use record::{
    device_code_grants, epoch_to_time, time_to_epoch, Registration, SessionRecord, TokenSet,
};
pub use select::{open, open_from_env, OpenedStore, StoreChoice};
pub use writer::{bounded, store_timeout, RecordWriter};

use std::fmt;

/// A place to keep session records. Calls block (the keyring APIs do): async code calls them
/// through `spawn_blocking`.
pub trait TokenStore: Send + Sync + 'static {
    fn kind(&self) -> StoreKind;
    fn load(&self, session: &str) -> Result<Option<SessionRecord>, StoreError>;
    fn save(&self, session: &str, record: &SessionRecord) -> Result<(), StoreError>;
    /// Removes the session's item; removing a missing item is not an error.
    fn delete(&self, session: &str) -> Result<(), StoreError>;
    /// A License Manager profile's item (one per profile, apart from the sessions' items).
    fn load_license(&self, profile: &str) -> Result<Option<LicenseRecord>, StoreError>;
    fn save_license(&self, profile: &str, record: &LicenseRecord) -> Result<(), StoreError>;
    fn delete_license(&self, profile: &str) -> Result<(), StoreError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    SecretService,
    Keychain,
    Keyutils,
    Memory,
}

impl StoreKind {
    /// The name `SSO_AGENT_STORE` and `status` use.
    pub fn name(self) -> &'static str {
        match self {
            Self::SecretService => "secret-service",
            Self::Keychain => "keychain",
            Self::Keyutils => "keyutils",
            Self::Memory => "memory",
        }
    }

    /// What is lost, and when, with this store.
    pub fn durability(self) -> &'static str {
        match self {
            Self::SecretService | Self::Keychain => "kept across reboots",
            Self::Keyutils => "lost at reboot",
            Self::Memory => "lost when the agent stops",
        }
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the {store} store is locked or refused access ({reason}); {fix}")]
    NoAccess {
        store: StoreKind,
        reason: String,
        fix: &'static str,
    },
    #[error("the {store} store is not available ({reason}); {fix}")]
    Unavailable {
        store: StoreKind,
        reason: String,
        fix: &'static str,
    },
    #[error("the {store} store did not answer within {seconds} s; {fix}")]
    TimedOut {
        store: StoreKind,
        seconds: u64,
        fix: &'static str,
    },
    #[error("the {store} item for sso-session {session} is not a session record ({reason}); it was left as it is: log in again to replace it")]
    Corrupt {
        store: StoreKind,
        session: String,
        reason: String,
    },
    #[error("the {store} item for License Manager profile {profile} is not a token record ({reason}); it was left as it is: run `sso-agent license import --profile {profile}` to replace it")]
    CorruptLicense {
        store: StoreKind,
        profile: String,
        reason: String,
    },
}
