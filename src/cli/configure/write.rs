//! Replacing the config file: the old bytes to `<file>.bak`, the new ones to a temporary file in
//! the same directory, then one rename, so a reader (the agent, an SDK) sees the old file or the
//! new one and never half of either. A symlinked config (a dotfiles checkout) is written where
//! the link points, and stays a link.

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Writes `new` over `path`, whose content was `old` when it was read; the backup's path.
pub fn replace_config(path: &Path, old: &[u8], new: &[u8]) -> Result<PathBuf> {
    let target =
        std::fs::canonicalize(path).with_context(|| format!("cannot find {}", path.display()))?;
    let mode = std::fs::metadata(&target)
        .with_context(|| format!("cannot read {}", target.display()))?
        .permissions()
        .mode()
        & 0o7777;
    let mut backup = target.clone().into_os_string();
    backup.push(".bak");
    let backup = PathBuf::from(backup);
    // Another editor may have saved the file since it was read: its change is not ours to lose.
    if std::fs::read(&target).ok().as_deref() != Some(old) {
        bail!(
            "{} changed while configure ran; nothing was written: run it again",
            target.display()
        );
    }
    write_atomically(&backup, old, mode)?;
    write_atomically(&target, new, mode)?;
    Ok(backup)
}

fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let advice = || {
        format!(
            "cannot write {}: check that you may write to it and to its directory, or run configure without --write and apply the diff yourself",
            path.display()
        )
    };
    let dir = path.parent().context("the config file has no directory")?;
    let name = path.file_name().context("the config file has no name")?;
    let temporary = dir.join(format!(
        ".{}.sso-agent-{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temporary)?;
        // The umask may have taken bits the file had.
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        // The rename itself survives a crash once the directory is on disk.
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written.with_context(advice)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "sso-agent-configure-write-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_file_keeps_its_mode_and_link_and_the_old_bytes_go_to_the_backup() {
        let dir = scratch("mode");
        let real = dir.join("dotfiles-config");
        std::fs::write(&real, "old\n").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.join("config");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let backup = replace_config(&link, b"old\n", b"new\n").unwrap();
        assert_eq!(backup, dir.join("dotfiles-config.bak"));
        assert_eq!(std::fs::read(&backup).unwrap(), b"old\n");
        assert_eq!(std::fs::read(&link).unwrap(), b"new\n");
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&real), 0o640);
        assert_eq!(mode(&backup), 0o640);
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert_eq!(left.len(), 3, "no temporary file is left: {left:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_that_cannot_be_written_says_what_to_do_and_leaves_nothing() {
        // The tests run as root, for whom permissions do not stop a write: a missing directory.
        let dir = scratch("unwritable");
        let path = dir.join("gone").join("config");
        let err = write_atomically(&path, b"new\n", 0o600).unwrap_err();
        let message = format!("{err:#}");
        assert!(
            message.contains(&format!("cannot write {}", path.display()))
                && message.contains("without --write and apply the diff yourself"),
            "{message}"
        );
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_changed_since_it_was_read_is_not_overwritten() {
        let dir = scratch("changed");
        let config = dir.join("config");
        std::fs::write(&config, "someone else's edit\n").unwrap();
        let err = replace_config(&config, b"old\n", b"new\n").unwrap_err();
        assert!(err.to_string().contains("run it again"), "{err}");
        assert_eq!(std::fs::read(&config).unwrap(), b"someone else's edit\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
