//! `~/.aws/config` as the agent last read it, read again when the file changes (one `stat` per
//! request), so editing the file needs no restart and the hot path parses nothing.

use crate::config::{AwsConfig, ConfigError, ConfigIndex, ProfileConfig, SsoSessionConfig};
use std::sync::Mutex;
use std::time::SystemTime;

pub struct ConfigCache {
    /// Resolved once: the agent's environment does not change.
    path: String,
    loaded: Mutex<Option<Loaded>>,
}

struct Loaded {
    modified: Option<SystemTime>,
    config: std::sync::Arc<ConfigIndex>,
}

impl ConfigCache {
    pub fn new() -> Self {
        Self {
            path: crate::config::config_file_path(&aws_types::os_shim_internal::Env::real()),
            loaded: Mutex::new(None),
        }
    }

    /// The file this agent serves.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The configuration, read again if the file's modification time changed.
    pub async fn current(&self) -> Result<std::sync::Arc<ConfigIndex>, ConfigError> {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        if let Some(loaded) = self.lock().as_ref() {
            if loaded.modified == modified {
                return Ok(loaded.config.clone());
            }
        }
        let config = std::sync::Arc::new(AwsConfig::load().await?.index());
        release_freed_memory();
        *self.lock() = Some(Loaded {
            modified,
            config: config.clone(),
        });
        Ok(config)
    }

    pub async fn profile(&self, name: &str) -> Result<ProfileConfig, ConfigError> {
        self.current().await?.profile(name)
    }

    pub async fn served_role(
        &self,
        name: &str,
    ) -> Result<std::sync::Arc<crate::config::RoleKey>, ConfigError> {
        self.current().await?.served_role(name)
    }

    pub async fn session(&self, name: &str) -> Result<SsoSessionConfig, ConfigError> {
        self.current().await?.sso_session(name)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Loaded>> {
        self.loaded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Hands freed heap back to the system: glibc keeps it otherwise, and the parse of a large config
/// (ours, or the SDK loader's) would stay in the agent's RSS for good.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}
