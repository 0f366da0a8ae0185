//! The always-on service: the shipped systemd user units and LaunchAgent plist (in `systemd/`
//! and `launchd/`), filled in with this binary's path, and the manager commands that enable them.

use std::path::{Path, PathBuf};

const SERVICE_UNIT: &str = include_str!("../systemd/sso-agent.service");
const SOCKET_UNIT: &str = include_str!("../systemd/sso-agent.socket");
const PLIST: &str = include_str!("../launchd/io.github.sso-agent.plist");
/// The binary path the shipped files name; replaced by the installed binary's path.
const SHIPPED_BINARY: &str = "/usr/local/bin/sso-agent";
const SHIPPED_SOCKET_DIR: &str = "/tmp/sso-agent";
pub const LAUNCHD_LABEL: &str = "io.github.sso-agent";

pub struct ServiceFile {
    pub path: PathBuf,
    pub contents: String,
}

/// What installing (or removing) the service does: files, then commands.
pub struct ServicePlan {
    pub files: Vec<ServiceFile>,
    pub commands: Vec<Vec<String>>,
    /// The command that tells whether the service manager runs here.
    pub manager_probe: Vec<String>,
}

fn words(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|part| part.to_string()).collect()
}

/// The systemd user units for `binary`.
pub fn systemd_units(binary: &Path) -> Vec<(&'static str, String)> {
    let binary = binary.display().to_string();
    vec![
        ("sso-agent.socket", SOCKET_UNIT.to_string()),
        (
            "sso-agent.service",
            SERVICE_UNIT.replace(SHIPPED_BINARY, &binary),
        ),
    ]
}

/// The LaunchAgent for `binary`, its socket in `socket_dir` (the user's `$TMPDIR/sso-agent`).
pub fn launchd_plist(binary: &Path, socket_dir: &Path) -> String {
    PLIST
        .replace(SHIPPED_BINARY, &binary.display().to_string())
        .replace(SHIPPED_SOCKET_DIR, &socket_dir.display().to_string())
}

/// `~/.config/systemd/user` (or under `$XDG_CONFIG_HOME`).
pub fn systemd_user_dir(home: &Path) -> PathBuf {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| home.join(".config"), PathBuf::from)
        .join("systemd/user")
}

pub fn install_plan(binary: &Path, home: &Path) -> ServicePlan {
    if cfg!(target_os = "macos") {
        let socket_dir = crate::paths::socket_path()
            .parent()
            .map_or_else(|| PathBuf::from(SHIPPED_SOCKET_DIR), Path::to_path_buf);
        let plist = launchd_plist_path(home);
        return ServicePlan {
            files: vec![ServiceFile {
                path: plist.clone(),
                contents: launchd_plist(binary, &socket_dir),
            }],
            commands: vec![words(&[
                "launchctl",
                "bootstrap",
                &gui_domain(),
                &plist.display().to_string(),
            ])],
            manager_probe: words(&["launchctl", "print", &gui_domain()]),
        };
    }
    let dir = systemd_user_dir(home);
    ServicePlan {
        files: systemd_units(binary)
            .into_iter()
            .map(|(name, contents)| ServiceFile {
                path: dir.join(name),
                contents,
            })
            .collect(),
        commands: vec![
            words(&["systemctl", "--user", "daemon-reload"]),
            words(&[
                "systemctl",
                "--user",
                "enable",
                "--now",
                "sso-agent.socket",
                "sso-agent.service",
            ]),
        ],
        manager_probe: words(&["systemctl", "--user", "show-environment"]),
    }
}

pub fn uninstall_plan(home: &Path) -> ServicePlan {
    if cfg!(target_os = "macos") {
        return ServicePlan {
            files: vec![ServiceFile {
                path: launchd_plist_path(home),
                contents: String::new(),
            }],
            commands: vec![words(&[
                "launchctl",
                "bootout",
                &format!("{}/{LAUNCHD_LABEL}", gui_domain()),
            ])],
            manager_probe: words(&["launchctl", "print", &gui_domain()]),
        };
    }
    let dir = systemd_user_dir(home);
    ServicePlan {
        files: ["sso-agent.service", "sso-agent.socket"]
            .iter()
            .map(|name| ServiceFile {
                path: dir.join(name),
                contents: String::new(),
            })
            .collect(),
        commands: vec![
            words(&[
                "systemctl",
                "--user",
                "disable",
                "--now",
                "sso-agent.service",
                "sso-agent.socket",
            ]),
            words(&["systemctl", "--user", "daemon-reload"]),
        ],
        manager_probe: words(&["systemctl", "--user", "show-environment"]),
    }
}

fn launchd_plist_path(home: &Path) -> PathBuf {
    home.join("Library/LaunchAgents")
        .join(format!("{LAUNCHD_LABEL}.plist"))
}

fn gui_domain() -> String {
    format!("gui/{}", crate::paths::current_uid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_name_the_installed_binary() {
        let units = systemd_units(Path::new("/opt/bin/sso-agent"));
        let service = &units
            .iter()
            .find(|(name, _)| *name == "sso-agent.service")
            .unwrap()
            .1;
        assert!(service.contains("ExecStart=/opt/bin/sso-agent daemon"));
        assert!(service.contains("Type=notify"));
        let socket = &units
            .iter()
            .find(|(name, _)| *name == "sso-agent.socket")
            .unwrap()
            .1;
        assert!(
            socket.contains("ListenStream=%t/sso-agent/agent.sock")
                && socket.contains("SocketMode=0600")
        );
    }

    #[test]
    fn the_plist_names_the_binary_and_the_users_socket() {
        let plist = launchd_plist(
            Path::new("/opt/bin/sso-agent"),
            Path::new("/var/folders/x/T/sso-agent"),
        );
        assert!(plist.contains("<string>/opt/bin/sso-agent</string>"));
        assert!(plist.contains("<string>/var/folders/x/T/sso-agent/agent.sock</string>"));
        assert!(!plist.contains(SHIPPED_SOCKET_DIR));
    }
}
