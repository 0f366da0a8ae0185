//! The agent's socket forwarded over SSH (`sso-agent ssh`): where the forward lands on the
//! remote host, and how a client there finds it.
//!
//! sshd binds a `RemoteForward` Unix socket at the path the client names, as given: it expands
//! neither `~` nor a relative path (they are relative to sshd's own working directory, `/`), it
//! creates no directory, and with its default `StreamLocalBindUnlink no` it leaves the socket
//! behind when the connection ends and refuses to bind over it the next time. `sso-agent ssh`
//! cannot know the remote user's home, uid or runtime directory before it connects, so each
//! connection gets a fresh name in the one directory every host has: `/tmp/sso-agent-forward-
//! <128 random bits>.sock`. A socket left behind by an earlier connection never blocks a new one.
//!
//! `/tmp` is shared, so the checks move from the directory to the entry: the directory must be
//! sticky (nobody but an entry's owner or root can remove or rename over it); a candidate must be
//! a socket (not a symlink) owned by the user with no group or other bits (sshd binds it 0600);
//! and the server that answers on it must run as the user (`SO_PEERCRED`, as for every socket).
//! Another user's entry is never connected to.

use crate::paths;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Where forwarded sockets land on the remote host.
pub const FORWARD_DIR: &str = "/tmp";
const PREFIX: &str = "sso-agent-forward-";
const SUFFIX: &str = ".sock";

/// The remote path of one forward: `/tmp/sso-agent-forward-<id>.sock`.
pub fn forward_path(id: &str) -> PathBuf {
    Path::new(FORWARD_DIR).join(format!("{PREFIX}{id}{SUFFIX}"))
}

/// The `ssh-config` path: one per laptop, host, port and user (ssh's `%C`), since ssh_config
/// has no token that changes per connection.
pub fn config_forward_path() -> String {
    format!("{FORWARD_DIR}/{PREFIX}%C{SUFFIX}")
}

/// A forwarded socket seen in `FORWARD_DIR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub path: PathBuf,
    pub owner: u32,
    pub mode: u32,
    pub modified: SystemTime,
}

impl Candidate {
    /// Bound by the user's own sshd for the user alone.
    pub fn is_own(&self, uid: u32) -> bool {
        self.owner == uid && self.mode & 0o077 == 0
    }
}

/// Why `FORWARD_DIR` is not looked in at all (it is not a sticky directory of root's or the
/// user's), or the sockets it holds, newest first.
pub fn candidates(dir: &Path) -> Result<Vec<Candidate>, String> {
    // macOS's /tmp is root's link to /private/tmp: the directory itself is what is judged.
    let dir = &std::fs::canonicalize(dir).map_err(|err| err.to_string())?;
    let metadata = std::fs::symlink_metadata(dir).map_err(|err| err.to_string())?;
    let uid = paths::current_uid();
    if !metadata.is_dir() || metadata.mode() & 0o1000 == 0 || ![0, uid].contains(&metadata.uid()) {
        return Err(format!(
            "{} is not a sticky directory of root's (mode {:o}, {})",
            dir.display(),
            metadata.mode() & 0o7777,
            paths::describe_uid(metadata.uid())
        ));
    }
    let entries = std::fs::read_dir(dir).map_err(|err| err.to_string())?;
    let mut found: Vec<Candidate> = entries
        .flatten()
        .filter(|entry| {
            entry.file_name().to_str().is_some_and(|name| {
                name.len() > PREFIX.len() + SUFFIX.len()
                    && name.starts_with(PREFIX)
                    && name.ends_with(SUFFIX)
            })
        })
        .filter_map(|entry| {
            let path = entry.path();
            let metadata = std::fs::symlink_metadata(&path).ok()?;
            metadata.file_type().is_socket().then(|| Candidate {
                owner: metadata.uid(),
                mode: metadata.mode() & 0o7777,
                modified: metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                path,
            })
        })
        .collect();
    found.sort_by(|a, b| b.modified.cmp(&a.modified).then(a.path.cmp(&b.path)));
    Ok(found)
}

/// "the SSH connection … is gone": the advice when every forward of the user's is dead.
pub fn gone_advice() -> String {
    format!(
        "reconnect with `sso-agent ssh HOST`; to run an agent on this host instead, remove the dead forwards (`find {FORWARD_DIR} -maxdepth 1 -name '{PREFIX}*{SUFFIX}' -user \"$(id -u)\" -delete`)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_forward_path_is_fresh_per_id_and_absolute() {
        assert_eq!(
            forward_path("00ff"),
            Path::new("/tmp/sso-agent-forward-00ff.sock")
        );
        assert!(forward_path("a").is_absolute());
        assert_eq!(config_forward_path(), "/tmp/sso-agent-forward-%C.sock");
    }

    #[test]
    fn only_sockets_with_the_name_are_candidates_newest_first() {
        let dir = std::env::temp_dir().join(format!("sso-agent-fwd-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let old = dir.join("sso-agent-forward-old.sock");
        let new = dir.join("sso-agent-forward-new.sock");
        let _old = std::os::unix::net::UnixListener::bind(&old).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let _new = std::os::unix::net::UnixListener::bind(&new).unwrap();
        std::fs::write(dir.join("sso-agent-forward-file.sock"), "").unwrap();
        std::os::unix::fs::symlink(&new, dir.join("sso-agent-forward-link.sock")).unwrap();
        let _other = std::os::unix::net::UnixListener::bind(dir.join("other.sock")).unwrap();
        let found = candidates(&dir).unwrap();
        let paths: Vec<_> = found.iter().map(|c| c.path.clone()).collect();
        assert_eq!(paths, vec![new, old]);

        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let refused = candidates(&dir).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(refused.contains("not a sticky directory"), "{refused}");
    }

    #[test]
    fn a_socket_open_to_others_is_not_the_users() {
        let candidate = Candidate {
            path: forward_path("x"),
            owner: 1000,
            mode: 0o600,
            modified: SystemTime::UNIX_EPOCH,
        };
        assert!(candidate.is_own(1000));
        assert!(!candidate.is_own(1001));
        assert!(!Candidate {
            mode: 0o660,
            ..candidate
        }
        .is_own(1000));
    }
}
