//! The OS keyring through `keyring-core` and one explicitly chosen platform store.

use super::{LicenseRecord, SessionRecord, StoreError, StoreKind, TokenStore};
use keyring_core::{CredentialStore, Entry, Error as KeyringError};
use std::collections::HashMap;
use std::sync::Arc;

/// The keyring "service" every session item is filed under; the item's "user" is the session name.
pub const KEYRING_SERVICE: &str = "sso-agent";
/// License Manager profiles' items: a service of their own, so no profile name can be mistaken
/// for a session's; the "user" is the profile name.
pub const LICENSE_KEYRING_SERVICE: &str = "sso-agent-license";

pub struct KeyringStore {
    kind: StoreKind,
    backend: Arc<CredentialStore>,
}

impl KeyringStore {
    /// Connects to the platform store of `kind` (this only connects; `select` probes it).
    pub fn connect(kind: StoreKind) -> Result<Self, StoreError> {
        let backend = backend(kind).map_err(|err| classify(kind, err))?;
        Ok(Self { kind, backend })
    }

    fn entry(&self, session: &str) -> Result<Entry, StoreError> {
        self.item(
            KEYRING_SERVICE,
            session,
            &format!("sso-agent: sso-session {session}"),
        )
    }

    fn license_entry(&self, profile: &str) -> Result<Entry, StoreError> {
        self.item(
            LICENSE_KEYRING_SERVICE,
            profile,
            &format!("sso-agent: License Manager token of profile {profile}"),
        )
    }

    fn item(&self, service: &str, user: &str, label: &str) -> Result<Entry, StoreError> {
        let modifiers: HashMap<&str, &str> = match self.kind {
            StoreKind::SecretService => HashMap::from([("label", label)]),
            _ => HashMap::new(),
        };
        self.backend
            .build(service, user, Some(&modifiers))
            .map_err(|err| classify(self.kind, err))
    }
}

#[cfg(target_os = "linux")]
fn backend(kind: StoreKind) -> keyring_core::Result<Arc<CredentialStore>> {
    match kind {
        StoreKind::SecretService => zbus_secret_service_keyring_store::Store::new()
            .map(|store| store as Arc<CredentialStore>),
        StoreKind::Keyutils => {
            linux_keyutils_keyring_store::Store::new().map(|store| store as Arc<CredentialStore>)
        }
        other => Err(KeyringError::NotSupportedByStore(format!(
            "{other} is not a store on Linux"
        ))),
    }
}

#[cfg(target_os = "macos")]
fn backend(kind: StoreKind) -> keyring_core::Result<Arc<CredentialStore>> {
    match kind {
        StoreKind::Keychain => apple_native_keyring_store::keychain::Store::new()
            .map(|store| store as Arc<CredentialStore>),
        other => Err(KeyringError::NotSupportedByStore(format!(
            "{other} is not a store on macOS"
        ))),
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn backend(kind: StoreKind) -> keyring_core::Result<Arc<CredentialStore>> {
    Err(KeyringError::NotSupportedByStore(format!(
        "{kind} is not supported on this platform"
    )))
}

/// How to fix a store that cannot be used.
pub fn fix_for(kind: StoreKind) -> &'static str {
    match kind {
        StoreKind::SecretService => "start a Secret Service (gnome-keyring, KeePassXC) in the desktop session and unlock it; on a headless box run `gnome-keyring-daemon --unlock --components=secrets` inside the D-Bus session and type the password, then Ctrl-D (never put it on the command line)",
        StoreKind::Keychain => "unlock the login keychain (Keychain Access, or `security unlock-keychain`)",
        StoreKind::Keyutils => "the kernel keyring needs a session keyring: start the agent under `keyctl session -` (containers often block keyctl altogether)",
        StoreKind::Memory => "nothing to fix",
    }
}

/// Maps keyring errors to ours. Platform error texts name the failure, never the secret.
fn classify(kind: StoreKind, err: KeyringError) -> StoreError {
    match err {
        KeyringError::NoStorageAccess(reason) => StoreError::NoAccess {
            store: kind,
            reason: reason.to_string(),
            fix: fix_for(kind),
        },
        other => StoreError::Unavailable {
            store: kind,
            reason: other.to_string(),
            fix: fix_for(kind),
        },
    }
}

impl TokenStore for KeyringStore {
    fn kind(&self) -> StoreKind {
        self.kind
    }

    fn load(&self, session: &str) -> Result<Option<SessionRecord>, StoreError> {
        let text = match self.entry(session)?.get_password() {
            Ok(text) => text,
            Err(KeyringError::NoEntry) => return Ok(None),
            Err(KeyringError::BadEncoding(_)) => {
                return Err(StoreError::Corrupt {
                    store: self.kind,
                    session: session.to_string(),
                    reason: "not UTF-8".into(),
                })
            }
            Err(err) => return Err(classify(self.kind, err)),
        };
        let text = zeroize::Zeroizing::new(text);
        serde_json::from_str(&text)
            .map(Some)
            // The position and category only: serde's message can quote the item's content.
            .map_err(|err| StoreError::Corrupt {
                store: self.kind,
                session: session.to_string(),
                reason: format!(
                    "{:?} error at line {} column {}",
                    err.classify(),
                    err.line(),
                    err.column()
                ),
            })
    }

    fn save(&self, session: &str, record: &SessionRecord) -> Result<(), StoreError> {
        let text = zeroize::Zeroizing::new(
            serde_json::to_string(record).expect("a session record always serializes"),
        );
        self.entry(session)?
            .set_password(&text)
            .map_err(|err| classify(self.kind, err))
    }

    fn delete(&self, session: &str) -> Result<(), StoreError> {
        match self.entry(session)?.delete_credential() {
            Ok(()) | Err(KeyringError::NoEntry) => Ok(()),
            Err(err) => Err(classify(self.kind, err)),
        }
    }

    fn load_license(&self, profile: &str) -> Result<Option<LicenseRecord>, StoreError> {
        let corrupt = |reason: String| StoreError::CorruptLicense {
            store: self.kind,
            profile: profile.to_string(),
            reason,
        };
        let text = match self.license_entry(profile)?.get_password() {
            Ok(text) => zeroize::Zeroizing::new(text),
            Err(KeyringError::NoEntry) => return Ok(None),
            Err(KeyringError::BadEncoding(_)) => return Err(corrupt("not UTF-8".into())),
            Err(err) => return Err(classify(self.kind, err)),
        };
        serde_json::from_str(&text).map(Some).map_err(|err| {
            // The position and category only: serde's message can quote the token.
            corrupt(format!(
                "{:?} error at line {} column {}",
                err.classify(),
                err.line(),
                err.column()
            ))
        })
    }

    fn save_license(&self, profile: &str, record: &LicenseRecord) -> Result<(), StoreError> {
        let text = zeroize::Zeroizing::new(
            serde_json::to_string(record).expect("a license record always serializes"),
        );
        self.license_entry(profile)?
            .set_password(&text)
            .map_err(|err| classify(self.kind, err))
    }

    fn delete_license(&self, profile: &str) -> Result<(), StoreError> {
        match self.license_entry(profile)?.delete_credential() {
            Ok(()) | Err(KeyringError::NoEntry) => Ok(()),
            Err(err) => Err(classify(self.kind, err)),
        }
    }
}
