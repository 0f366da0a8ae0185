//! Reading and writing the cache file without ever following a link or widening its mode: the
//! new content goes to a fresh temporary file in the same directory, created 0600 with
//! `O_EXCL | O_NOFOLLOW`, then one rename (readers see the old file or the new one); the
//! directory is created 0700 when missing. Std and rustix only: `tempfile` is an optional
//! (emulator) dependency here, and the few lines below say exactly which flags are used.

use super::CachedToken;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The largest cache file read (real ones are under 4 KiB).
const MAX_FILE: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CliCacheError {
    #[error("HOME is not set, so the AWS CLI's cache directory (~/.aws/sso/cache) is unknown")]
    NoHome,
    #[error("{path} is a symbolic link; sso-agent does not write or read the AWS CLI's token cache through a link: remove the link (`rm {path}`) or turn `sso_agent_cli_cache` off")]
    Symlink { path: String },
    #[error("{path} belongs to {owner}, not to you; it is not read: remove it, or log in with `aws sso login` as yourself")]
    NotYours { path: String, owner: String },
    #[error("{path} is not a regular file")]
    NotAFile { path: String },
    #[error("there is no AWS CLI login at {path}; run `aws sso login --sso-session {session}` first, or log in with `sso-agent login --sso-session {session}` instead")]
    Missing { path: String, session: String },
    #[error("{path} is not an AWS CLI token cache file ({reason}); run `aws sso login --sso-session {session}` again, or `sso-agent login --sso-session {session}`")]
    Malformed {
        path: String,
        session: String,
        reason: String,
    },
    #[error("the cache file's `{member}` is not a time (RFC 3339, e.g. 2026-12-02T11:00:00Z)")]
    BadTime { member: &'static str },
    #[error("cannot {action} {path}: {reason}")]
    Io {
        action: &'static str,
        path: String,
        reason: String,
    },
}

fn io<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> CliCacheError + 'a {
    move |err| CliCacheError::Io {
        action,
        path: path.display().to_string(),
        reason: err.to_string(),
    }
}

/// Refuses a link planted at `path`; a missing file is fine.
fn refuse_link(path: &Path) -> Result<(), CliCacheError> {
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_symlink() => Err(CliCacheError::Symlink {
            path: path.display().to_string(),
        }),
        Ok(metadata) if !metadata.file_type().is_file() => Err(CliCacheError::NotAFile {
            path: path.display().to_string(),
        }),
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(io("check", path)(err)),
    }
}

/// Writes `token` to `path` atomically, 0600 from the first byte.
pub fn write(path: &Path, token: &CachedToken) -> Result<(), CliCacheError> {
    let dir = path.parent().expect("a cache file has a directory");
    if !dir.is_dir() {
        // 0700 for every directory made here (~/.aws/sso, ~/.aws/sso/cache); an existing one is
        // the user's and is left as it is.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io("create", dir))?;
    }
    refuse_link(path)?;
    let bytes = serde_json::to_vec(token).expect("the cache file serializes");
    let temporary = temporary_path(path);
    let written = (|| -> std::io::Result<()> {
        // O_EXCL: a name someone else made (a link included) is never opened; mode 0600 at
        // creation, so the umask can only narrow it.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&temporary)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written.map_err(io("write", path))
}

/// `.<name>.<random>.tmp` beside the file: unpredictable, so no one can plant it first.
fn temporary_path(path: &Path) -> PathBuf {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).expect("the OS gives random bytes");
    let suffix: String = random.iter().map(|byte| format!("{byte:02x}")).collect();
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().to_string())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{suffix}.tmp"))
}

/// Reads the file: never through a link, only a regular file of this user's, at most 64 KiB.
/// `session` names the session in the messages.
pub fn read(path: &Path, session: &str) -> Result<CachedToken, CliCacheError> {
    let shown = path.display().to_string();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path);
    let file = match file {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(CliCacheError::Missing {
                path: shown,
                session: session.to_string(),
            })
        }
        // ELOOP: the last component is a link.
        Err(err) if err.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Err(CliCacheError::Symlink { path: shown })
        }
        Err(err) => return Err(io("read", path)(err)),
    };
    let metadata = file.metadata().map_err(io("read", path))?;
    if !metadata.file_type().is_file() {
        return Err(CliCacheError::NotAFile { path: shown });
    }
    if metadata.uid() != crate::paths::current_uid() {
        return Err(CliCacheError::NotYours {
            path: shown,
            owner: crate::paths::describe_uid(metadata.uid()),
        });
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(io("read", path))?;
    let malformed = |reason: String| CliCacheError::Malformed {
        path: shown.clone(),
        session: session.to_string(),
        reason,
    };
    if bytes.len() as u64 > MAX_FILE {
        return Err(malformed("larger than 64 KiB".into()));
    }
    // serde_json's message names a member or a position, never a value.
    serde_json::from_slice(&bytes).map_err(|err| malformed(err.to_string()))
}

/// Removes the file; a missing one is fine, a link is left alone (it is not ours).
pub fn remove(path: &Path) -> Result<(), CliCacheError> {
    refuse_link(path)?;
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(io("remove", path)(err)),
    }
}

/// The file's mode bits, for tests and checks.
pub fn mode(path: &Path) -> Option<u32> {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|metadata| metadata.permissions().mode() & 0o7777)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("sso-agent-cli-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn token(access: &str) -> CachedToken {
        CachedToken {
            start_url: Some("https://corp.awsapps.com/start".into()),
            region: Some("us-east-1".into()),
            access_token: Secret::new(access),
            expires_at: "2026-12-02T11:00:00Z".into(),
            client_id: None,
            client_secret: None,
            registration_expires_at: None,
            refresh_token: None,
        }
    }

    #[test]
    fn the_file_is_made_0600_in_a_new_0700_directory_and_replaced_whole() {
        let root = scratch("write");
        let path = super::super::cache_dir(&root).join("a.json");
        write(&path, &token("one")).unwrap();
        assert_eq!(mode(&path), Some(0o600));
        assert_eq!(mode(path.parent().unwrap()), Some(0o700));
        assert_eq!(mode(&root.join(".aws/sso")), Some(0o700));
        write(&path, &token("two")).unwrap();
        assert_eq!(read(&path, "corp").unwrap().access_token.expose(), "two");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|entry| entry.file_name())
            .collect();
        assert_eq!(names, ["a.json"], "no temporary file is left");
        remove(&path).unwrap();
        remove(&path).unwrap();
        assert!(!path.exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_link_at_the_path_is_refused_and_its_target_untouched() {
        let root = scratch("link");
        let target = root.join("elsewhere");
        std::fs::write(&target, "keep").unwrap();
        let path = root.join("a.json");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let message = write(&path, &token("one")).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("{} is a symbolic link", path.display()))
                && !message.contains("chmod"),
            "{message}"
        );
        assert!(matches!(
            read(&path, "corp"),
            Err(CliCacheError::Symlink { .. })
        ));
        assert!(matches!(remove(&path), Err(CliCacheError::Symlink { .. })));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_missing_or_malformed_file_says_what_to_run() {
        let root = scratch("read");
        let path = root.join("a.json");
        let missing = read(&path, "corp").unwrap_err().to_string();
        assert!(
            missing.contains("aws sso login --sso-session corp")
                && missing.contains("sso-agent login --sso-session corp"),
            "{missing}"
        );
        std::fs::write(&path, "{\"accessToken\": \"tok\"").unwrap();
        let malformed = read(&path, "corp").unwrap_err().to_string();
        assert!(
            malformed.contains("is not an AWS CLI token cache file"),
            "{malformed}"
        );
        std::fs::write(&path, "{\"accessToken\": \"tok\"}").unwrap();
        let malformed = read(&path, "corp").unwrap_err().to_string();
        assert!(malformed.contains("expiresAt"), "{malformed}");
        assert!(!malformed.contains("tok\""), "{malformed}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
