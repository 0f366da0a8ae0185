//! `~/.aws/config` as the agent last read it, read again when the file changes, so editing the
//! file needs no restart and the hot path parses nothing. The file is read after a change event
//! in its directory, and looked at (one `stat`) once a `RECHECK` for what events miss: a cached
//! request makes no file system call. One look runs at a time, on a blocking thread.

mod watch;

use crate::config::{AwsConfig, ConfigError, ConfigIndex, ProfileConfig, SsoSessionConfig};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};
use watch::ChangeWatch;

pub struct ConfigCache {
    /// Resolved once: the agent's environment does not change.
    path: String,
    watch: ChangeWatch,
    loaded: Mutex<Option<Loaded>>,
    /// Held by the one look in flight: concurrent requests neither parse the file once each
    /// nor store their reads out of order.
    looking: tokio::sync::Mutex<()>,
}

struct Loaded {
    file: Option<FileVersion>,
    /// When the file was last looked at.
    checked: Instant,
    config: Arc<ConfigIndex>,
}

/// What tells one version of the file from another without reading it: a replaced file has a
/// new inode, and an edit within the file system's time granularity still changes the size.
#[derive(PartialEq, Clone, Copy)]
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
            looking: tokio::sync::Mutex::new(()),
        }
    }

    /// The file this agent serves.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The configuration, read again if the file changed.
    pub async fn current(&self) -> Result<Arc<ConfigIndex>, ConfigError> {
        if let Some(config) = self.fresh() {
            return Ok(config);
        }
        let _looking = match self.looking.try_lock() {
            Ok(guard) => guard,
            Err(_) => match self.last_loaded() {
                // Another request is looking: this one is served what was read before (as it
                // would have been a moment earlier), and is never held up by a hung stat.
                Some(config) => return Ok(config),
                // Nothing read yet: wait for that look, which may be all this request needs.
                None => {
                    let guard = self.looking.lock().await;
                    if let Some(config) = self.fresh() {
                        return Ok(config);
                    }
                    guard
                }
            },
        };
        // Taken just before the look: a change made while it looks is left for the next one.
        let changed = self.watch.take_change();
        // An event means the file changed: read it even if its version looks the same (a
        // rewrite of the same size within the file system's time granularity).
        let last_seen = match self.lock().as_ref() {
            Some(loaded) if !changed => Some(loaded.file),
            _ => None,
        };
        // The look runs off the agent's one thread: a stat on an NFS home can hang, and a parse
        // of a large config takes milliseconds that every other connection would wait for.
        let path = self.path.clone();
        let look = match tokio::task::spawn_blocking(move || look_at(&path, last_seen)).await {
            Ok(look) => look,
            Err(join) => match join.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(_cancelled) => {
                    return Err(ConfigError::Unreadable {
                        file: self.path.clone(),
                        reason: "the agent is stopping".to_string(),
                    })
                }
            },
        };
        let mut loaded = self.lock();
        match (look, loaded.as_mut()) {
            (Look::Unchanged, Some(loaded)) => {
                loaded.checked = Instant::now();
                Ok(loaded.config.clone())
            }
            (Look::Unchanged, None) => unreachable!("the file was unchanged from a load"),
            (Look::Read(file, Ok(config)), _) => {
                tracing::debug!(file = %self.path, "read the config");
                *loaded = Some(Loaded {
                    file,
                    checked: Instant::now(),
                    config: config.clone(),
                });
                Ok(config)
            }
            (Look::Read(_, Err(err)), _) => {
                tracing::debug!("the config cannot be used: {err}");
                // The next request reads the file again, as this one did, and says why.
                self.watch.mark_changed();
                Err(err)
            }
        }
    }

    /// The configuration last read, when no event came since and it was looked at within the
    /// recheck interval.
    fn fresh(&self) -> Option<Arc<ConfigIndex>> {
        if self.watch.has_change() {
            return None;
        }
        let loaded = self.lock();
        let loaded = loaded.as_ref()?;
        (loaded.checked.elapsed() < self.watch.recheck()).then(|| loaded.config.clone())
    }

    fn last_loaded(&self) -> Option<Arc<ConfigIndex>> {
        self.lock().as_ref().map(|loaded| loaded.config.clone())
    }

    pub async fn profile(&self, name: &str) -> Result<ProfileConfig, ConfigError> {
        self.current().await?.profile(name)
    }

    pub async fn served_role(
        &self,
        name: &str,
    ) -> Result<Arc<crate::config::RoleKey>, ConfigError> {
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

/// What one look at the file found.
enum Look {
    /// The version last read is still there.
    Unchanged,
    /// The file as it is now (its version, taken before the read), or why it cannot be used.
    Read(Option<FileVersion>, Result<Arc<ConfigIndex>, ConfigError>),
}

/// Blocking: a stat, and a read and parse when the version is not `last_seen`.
fn look_at(path: &str, last_seen: Option<Option<FileVersion>>) -> Look {
    let file = FileVersion::of(path);
    if last_seen == Some(file) {
        return Look::Unchanged;
    }
    // `AwsConfig::load` is async for aws-config's file system shim, which reads synchronously.
    let config = tokio::runtime::Handle::current().block_on(AwsConfig::load());
    let config = config.map(|config| Arc::new(config.index()));
    release_freed_memory();
    Look::Read(file, config)
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
