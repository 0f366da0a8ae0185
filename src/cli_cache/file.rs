//! Reading and writing the cache file without ever following a link or widening its mode: the
//! new content goes to a fresh temporary file in the same directory, created 0600 with
//! `O_EXCL | O_NOFOLLOW`, then one rename (readers see the old file or the new one); the
//! directory is created 0700 when missing.
//!
//! Links, decided: a link *to a directory* (`~/.aws/sso` or `~/.aws/sso/cache` kept in a
//! dotfiles repository, say) is followed, as the AWS CLI follows it, but only into a place no
//! other user controls: every directory the secret's path really goes through, from the cache
//! directory up to `/` (or to the home directory), must belong to the user or root and must not
//! be writable by group or others unless sticky (OpenSSH's `StrictModes` rule for
//! `authorized_keys`); otherwise nothing is written. A link *at the file's path* is refused and
//! left as it is: the rename would replace the link itself, never write through it (so a link
//! planted after the check is harmless), but silently replacing a link of the user's is not
//! ours to do. Std and rustix only: `tempfile` is an optional
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
    #[error("{path} {reason}, so sso-agent does not write the AWS CLI's token cache there (another user could take it): {fix}, or turn `sso_agent_cli_cache` off")]
    UnsafeDirectory {
        path: String,
        reason: String,
        fix: String,
    },
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

/// Refuses a directory (`dir`, after every link, and the directories above it) that anyone but
/// the user and root could change: the module's comment has the rule. Both chains are checked,
/// the resolved one and the one as written, since a directory that holds a link (`~/.aws/sso`
/// for a linked `cache`) could swap the link. Each stops at the home directory (`HOME`, after
/// its links), whose parents are the system's.
fn refuse_unsafe_directory(dir: &Path) -> Result<(), CliCacheError> {
    let resolved = std::fs::canonicalize(dir).map_err(io("check", dir))?;
    let home = std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .and_then(|home| std::fs::canonicalize(home).ok());
    refuse_unsafe_chain(dir, &resolved, home.as_deref())?;
    refuse_unsafe_chain(dir, dir, home.as_deref())
}

/// `refuse_unsafe_directory` for the directories from `start` up (each as `metadata` finds it,
/// through its links), to `home` or the root.
fn refuse_unsafe_chain(dir: &Path, start: &Path, home: Option<&Path>) -> Result<(), CliCacheError> {
    let uid = crate::paths::current_uid();
    for step in start
        .ancestors()
        .filter(|step| !step.as_os_str().is_empty())
    {
        let metadata = std::fs::metadata(step).map_err(io("check", step))?;
        let unsafe_dir = |reason: String, fix: String| CliCacheError::UnsafeDirectory {
            path: step.display().to_string(),
            reason,
            fix,
        };
        if metadata.uid() != uid && metadata.uid() != 0 {
            return Err(unsafe_dir(
                format!("belongs to {}", crate::paths::describe_uid(metadata.uid())),
                format!(
                    "make {} a directory of yours, or a link to one",
                    dir.display()
                ),
            ));
        }
        let mode = metadata.permissions().mode();
        let sticky = mode & 0o1000 != 0;
        if mode & 0o022 != 0 && !sticky {
            return Err(unsafe_dir(
                "is writable by other users".into(),
                format!("run `chmod go-w {}` if it is yours", step.display()),
            ));
        }
        if home.is_some() && std::fs::canonicalize(step).ok().as_deref() == home {
            break;
        }
    }
    Ok(())
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
    refuse_unsafe_directory(dir)?;
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
    fn a_linked_cache_directory_is_followed_into_a_directory_of_the_users_only() {
        let root = scratch("linked-dir");
        // ~/.aws/sso/cache -> a directory of the user's elsewhere (dotfiles): followed.
        let kept = root.join("dotfiles/aws-sso-cache");
        std::fs::create_dir_all(&kept).unwrap();
        std::fs::set_permissions(
            root.join("dotfiles"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o700)).unwrap();
        let cache = super::super::cache_dir(&root.join("home"));
        std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&kept, &cache).unwrap();
        let path = cache.join("a.json");
        write(&path, &token("one")).unwrap();
        assert_eq!(
            read(&kept.join("a.json"), "corp")
                .unwrap()
                .access_token
                .expose(),
            "one"
        );
        assert_eq!(read(&path, "corp").unwrap().access_token.expose(), "one");
        assert_eq!(mode(&kept.join("a.json")), Some(0o600));

        // A directory on the way that others may write to (not sticky): nothing is written.
        std::fs::set_permissions(
            root.join("dotfiles"),
            std::fs::Permissions::from_mode(0o777),
        )
        .unwrap();
        let message = write(&path, &token("two")).unwrap_err().to_string();
        let dotfiles = std::fs::canonicalize(root.join("dotfiles")).unwrap();
        assert!(
            message.starts_with(&format!(
                "{} is writable by other users",
                dotfiles.display()
            )) && message.contains(&format!("chmod go-w {}", dotfiles.display())),
            "{message}"
        );
        // Sticky, as /tmp is: others cannot rename what is the user's there.
        std::fs::set_permissions(
            root.join("dotfiles"),
            std::fs::Permissions::from_mode(0o1777),
        )
        .unwrap();
        write(&path, &token("three")).unwrap();
        std::fs::set_permissions(
            root.join("dotfiles"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();

        // The directory that holds the link, writable by others, could swap it: refused too.
        let holder = cache.parent().unwrap().to_path_buf();
        std::fs::set_permissions(&holder, std::fs::Permissions::from_mode(0o777)).unwrap();
        let message = write(&path, &token("two")).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("{} is writable by other users", holder.display())),
            "{message}"
        );
        std::fs::set_permissions(&holder, std::fs::Permissions::from_mode(0o700)).unwrap();

        // A link into a directory another user owns: refused, the file there untouched.
        let nobody = 65534;
        if std::os::unix::fs::chown(&kept, Some(nobody), None).is_ok() {
            let message = write(&path, &token("four")).unwrap_err().to_string();
            assert!(
                message.contains("belongs to uid 65534")
                    && message.contains(&format!("make {} a directory of yours", cache.display())),
                "{message}"
            );
            std::os::unix::fs::chown(&kept, Some(crate::paths::current_uid()), None).unwrap();
        }
        assert_eq!(read(&path, "corp").unwrap().access_token.expose(), "three");
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
