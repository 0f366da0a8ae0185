//! `~/.aws/config` as the agent last read it, read again when the file changes, so editing the
//! file needs no restart and the hot path parses nothing. The file is looked at (one `stat`)
//! only after a change event in its directory, or once a `RECHECK` for what events miss: a
//! cached request makes no file system call.

mod watch;

use crate::config::{AwsConfig, ConfigError, ConfigIndex, ProfileConfig, SsoSessionConfig};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};
use watch::{ChangeWatch, RECHECK};

pub struct ConfigCache {
    /// Resolved once: the agent's environment does not change.
    path: String,
    watch: ChangeWatch,
    loaded: Mutex<Option<Loaded>>,
}

struct Loaded {
    file: Option<FileVersion>,
    /// When the file was last looked at.
    checked: Instant,
    config: std::sync::Arc<ConfigIndex>,
}

/// What tells one version of the file from another without reading it: a replaced file has a
/// new inode, and an edit within the file system's time granularity still changes the size.
#[derive(PartialEq)]
struct FileVersion {
    modified: SystemTime,
    len: u64,
    inode: u64,
}

impl FileVersion {
    fn of(path: &str) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::metadata(path).ok()?;
        Some(Self {
            modified: metadata.modified().ok()?,
            len: metadata.len(),
            inode: metadata.ino(),
        })
    }
}

impl ConfigCache {
    pub fn new() -> Self {
        let path = crate::config::config_file_path(&aws_types::os_shim_internal::Env::real());
        Self {
            watch: ChangeWatch::new(std::path::Path::new(&path)),
            path,
            loaded: Mutex::new(None),
        }
    }

    /// The file this agent serves.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The configuration, read again if the file changed.
    pub async fn current(&self) -> Result<std::sync::Arc<ConfigIndex>, ConfigError> {
        let changed = self.watch.take_change();
        if let Some(loaded) = self.lock().as_mut() {
            if !changed && loaded.checked.elapsed() < RECHECK {
                return Ok(loaded.config.clone());
            }
            let file = FileVersion::of(&self.path);
            if loaded.file == file {
                loaded.checked = Instant::now();
                return Ok(loaded.config.clone());
            }
        }
        let file = FileVersion::of(&self.path);
        let config = match AwsConfig::load().await {
            Ok(config) => std::sync::Arc::new(config.index()),
            Err(err) => {
                // The next request reads the file again, as this one did, and says why.
                self.watch.mark_changed();
                return Err(err);
            }
        };
        release_freed_memory();
        *self.lock() = Some(Loaded {
            file,
            checked: Instant::now(),
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
