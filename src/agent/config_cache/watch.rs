//! Tells the config cache when `~/.aws/config` may have changed, so a request need not `stat`
//! the file: inotify on Linux, FSEvents on macOS, through `notify`. Events are not the whole
//! truth (an edit from another host on an NFS home raises none, nor does one behind a symlinked
//! directory that is not watched), so the cache also looks at the file once a `RECHECK`.

use notify::{RecursiveMode, Watcher};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The longest a request trusts the last look at the file without an event.
pub const RECHECK: Duration = Duration::from_secs(1);

pub struct ChangeWatch {
    changed: Arc<AtomicBool>,
    /// Kept for its thread and its watches; `None` when no watch could be set.
    _watcher: Option<notify::RecommendedWatcher>,
}

impl ChangeWatch {
    /// Watches the directory that holds `path` (an editor replaces the file, so a watch on the
    /// file itself would be lost at the first save), and, for a symlinked file, the directory
    /// of its target too.
    pub fn new(path: &Path) -> Self {
        let changed = Arc::new(AtomicBool::new(true));
        let watcher = Self::watch(path, changed.clone())
            .inspect_err(|err| {
                tracing::debug!("config changes are found by a stat per request: {err}")
            })
            .ok();
        Self {
            changed,
            _watcher: watcher,
        }
    }

    fn watch(path: &Path, changed: Arc<AtomicBool>) -> notify::Result<notify::RecommendedWatcher> {
        let mut watcher =
            notify::recommended_watcher(move |_event: notify::Result<notify::Event>| {
                // Any event, or an error (a lost event), means: look at the file again.
                changed.store(true, Ordering::Release);
            })?;
        let mut directories = vec![parent(path)];
        if let Ok(target) = std::fs::canonicalize(path) {
            directories.push(parent(&target));
        }
        directories.dedup();
        for directory in directories {
            watcher.watch(&directory, RecursiveMode::NonRecursive)?;
        }
        Ok(watcher)
    }

    /// Whether a watch is set: without one, every request must look at the file.
    pub fn is_watching(&self) -> bool {
        self._watcher.is_some()
    }

    /// Makes the next `take_change` true.
    pub fn mark_changed(&self) {
        self.changed.store(true, Ordering::Release);
    }

    /// Whether something happened since the last call (true at first, and always without a
    /// watch). Cleared before the caller looks at the file, so a change made while it looks is
    /// reported to the next call.
    pub fn take_change(&self) -> bool {
        self.changed.swap(false, Ordering::AcqRel) || !self.is_watching()
    }
}

fn parent(path: &Path) -> std::path::PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    }
}
