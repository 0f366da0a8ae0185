//! Tells the config cache when `~/.aws/config` may have changed, so a request need not `stat`
//! the file: inotify on Linux, FSEvents on macOS, through `notify`. Events are not the whole
//! truth (an edit from another host on an NFS home raises none, nor does one behind a symlinked
//! directory that is not watched), so the cache also looks at the file once a `RECHECK`.
//! An event is noticed on notify's thread, so a request sent the instant a save returns may
//! still be answered from the old file: within `RECHECK` at the most.

use notify::event::{AccessKind, AccessMode, Event, EventKind};
use notify::{RecursiveMode, Watcher};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The longest a request trusts the last look at the file without an event.
pub const RECHECK: Duration = Duration::from_secs(1);

/// `SSO_AGENT_CONFIG_RECHECK_MS` changes `RECHECK`: tests set it long, so that only an event
/// can make the agent see an edit.
fn recheck_from_env() -> Duration {
    std::env::var("SSO_AGENT_CONFIG_RECHECK_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(RECHECK, Duration::from_millis)
}

pub struct ChangeWatch {
    changed: Arc<AtomicBool>,
    recheck: Duration,
    /// Kept alive for its thread and its watches; `None` when no watch could be set.
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
                tracing::debug!("config changes are found by a look once a recheck interval: {err}")
            })
            .ok();
        Self {
            changed,
            recheck: recheck_from_env(),
            _watcher: watcher,
        }
    }

    fn watch(path: &Path, changed: Arc<AtomicBool>) -> notify::Result<notify::RecommendedWatcher> {
        let mut watched = Watched {
            directories: vec![parent(path)],
            names: path.file_name().map(OsString::from).into_iter().collect(),
        };
        if let Ok(target) = std::fs::canonicalize(path) {
            watched.directories.push(parent(&target));
            watched.names.extend(target.file_name().map(OsString::from));
        }
        watched.directories.dedup();
        let directories = watched.directories.clone();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
            // An error may be a lost event: look at the file again.
            if event.map_or(true, |event| watched.may_change_the_file(&event)) {
                changed.store(true, Ordering::Release);
            }
        })?;
        for directory in directories {
            watcher.watch(&directory, RecursiveMode::NonRecursive)?;
        }
        Ok(watcher)
    }

    /// How long the last look at the file is trusted without an event.
    pub fn recheck(&self) -> Duration {
        self.recheck
    }

    /// Makes the next `take_change` true.
    pub fn mark_changed(&self) {
        self.changed.store(true, Ordering::Release);
    }

    /// Whether an event (or `mark_changed`) came since the last `take_change`; true at first.
    pub fn has_change(&self) -> bool {
        self.changed.load(Ordering::Acquire)
    }

    /// `has_change`, cleared: the caller is about to look at the file, so a change made while
    /// it looks is reported to the next call. Without a watch only the recheck interval and
    /// `mark_changed` make the cache look again.
    pub fn take_change(&self) -> bool {
        self.changed.swap(false, Ordering::AcqRel)
    }
}

/// The watched directories and the names in them that are the config (the link and its target).
struct Watched {
    directories: Vec<PathBuf>,
    names: Vec<OsString>,
}

impl Watched {
    /// Whether an event may mean the config changed. Reads are not changes: the AWS CLI and the
    /// SDKs open the config before every `credential_process` run, and so does a reload. Nor is
    /// anything that happens to another file in the directory (`credentials`, `sso/cache`).
    fn may_change_the_file(&self, event: &Event) -> bool {
        if event.need_rescan() {
            return true;
        }
        if let EventKind::Access(kind) = event.kind {
            if kind != AccessKind::Close(AccessMode::Write) {
                return false;
            }
        }
        // An event without paths says nothing of which file: look.
        event.paths.is_empty()
            || event.paths.iter().any(|path| {
                self.directories.contains(path)
                    || path
                        .file_name()
                        .is_some_and(|name| self.names.iter().any(|ours| ours == name))
            })
    }
}

fn parent(path: &Path) -> std::path::PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, Flag, ModifyKind, RenameMode};

    fn watched() -> Watched {
        Watched {
            directories: vec!["/home/u/.aws".into(), "/home/u/dotfiles".into()],
            names: vec!["config".into(), "aws-config".into()],
        }
    }

    fn event(kind: EventKind, paths: &[&str]) -> Event {
        paths
            .iter()
            .fold(Event::new(kind), |event, path| event.add_path(path.into()))
    }

    #[test]
    fn writes_renames_and_lost_events_of_the_config_are_changes() {
        let watched = watched();
        for (kind, paths) in [
            (
                EventKind::Modify(ModifyKind::Data(DataChange::Any)),
                &["/home/u/.aws/config"][..],
            ),
            (
                EventKind::Access(AccessKind::Close(AccessMode::Write)),
                &["/home/u/.aws/config"],
            ),
            // An editor's save: its temporary file renamed over the config.
            (
                EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
                &["/home/u/.aws/.config.swp", "/home/u/.aws/config"],
            ),
            // The symlink's target, in its own directory.
            (
                EventKind::Create(CreateKind::File),
                &["/home/u/dotfiles/aws-config"],
            ),
            // The watched directory itself went away.
            (
                EventKind::Remove(notify::event::RemoveKind::Folder),
                &["/home/u/.aws"],
            ),
            (EventKind::Other, &[]),
        ] {
            assert!(
                watched.may_change_the_file(&event(kind, paths)),
                "{kind:?} {paths:?}"
            );
        }
        let overflow = Event::new(EventKind::Other).set_flag(Flag::Rescan);
        assert!(watched.may_change_the_file(&overflow));
    }

    #[test]
    fn reads_of_the_config_and_other_files_are_not() {
        let watched = watched();
        for (kind, paths) in [
            (
                EventKind::Access(AccessKind::Open(AccessMode::Any)),
                &["/home/u/.aws/config"][..],
            ),
            (
                EventKind::Access(AccessKind::Close(AccessMode::Read)),
                &["/home/u/.aws/config"],
            ),
            (
                EventKind::Modify(ModifyKind::Data(DataChange::Any)),
                &["/home/u/.aws/credentials"],
            ),
            (
                EventKind::Access(AccessKind::Close(AccessMode::Write)),
                &["/home/u/.aws/credentials"],
            ),
            (EventKind::Create(CreateKind::Folder), &["/home/u/.aws/sso"]),
        ] {
            assert!(
                !watched.may_change_the_file(&event(kind, paths)),
                "{kind:?} {paths:?}"
            );
        }
    }
}
