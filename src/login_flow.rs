//! Which login a session gets: the authorization code with PKCE (one click in a browser on this
//! machine) or the device code (a link and a code for any device). Decided per login, in the
//! agent, from the agent's own environment — the browser has to open where the agent runs and
//! reach its loopback listener, so the caller's environment would be the wrong one to ask.
//! `decide` is pure; `FlowEnvironment::current` reads what it needs.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The login a session runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoginFlow {
    /// Authorization code + PKCE through a browser and a loopback redirect.
    Browser,
    /// RFC 8628 device authorization: a link and a code, any device.
    DeviceCode,
}

impl LoginFlow {
    /// The name the protocol, `status` and `sso_agent_login_flow` use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Browser => "browser",
            Self::DeviceCode => "device-code",
        }
    }
}

impl fmt::Display for LoginFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `sso_agent_login_flow` in an `[sso-session]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlowSetting {
    #[default]
    Auto,
    Browser,
    DeviceCode,
}

/// The values `sso_agent_login_flow` takes, as messages name them.
pub const FLOW_SETTINGS: &str = "auto, browser, device-code";

impl FlowSetting {
    /// Parses the key's value (case and surrounding space do not matter).
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(Self::Auto),
            "browser" => Some(Self::Browser),
            "device-code" => Some(Self::DeviceCode),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Linux,
    MacOs,
    /// Anything else: no way to tell a display, so the device code.
    Other,
}

/// What the decision looks at, read from the agent's environment (or made up by a test).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowEnvironment {
    pub platform: Option<Platform>,
    pub display: Option<String>,
    pub wayland_display: Option<String>,
    /// `SSH_CONNECTION` or `SSH_TTY` is set.
    pub ssh: bool,
    /// WSL (`WSL_DISTRO_NAME`/`WSL_INTEROP`), for the reason's words.
    pub wsl: bool,
    /// A container (`/.dockerenv`, `/run/.containerenv`), for the reason's words.
    pub container: bool,
    /// macOS: the console (GUI) session is this user's.
    pub console_user: bool,
}

/// The flow of one login and why, in words for `status` and the login's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowChoice {
    pub flow: LoginFlow,
    pub reason: String,
}

impl FlowChoice {
    fn new(flow: LoginFlow, reason: impl Into<String>) -> Self {
        Self {
            flow,
            reason: reason.into(),
        }
    }
}

/// Decides one login's flow. The caller's `--use-device-code` wins, then the session's key,
/// then what the environment can show: a display present wins over every "remote" sign.
pub fn decide(setting: FlowSetting, use_device_code: bool, env: &FlowEnvironment) -> FlowChoice {
    if use_device_code {
        return FlowChoice::new(LoginFlow::DeviceCode, "--use-device-code");
    }
    match setting {
        FlowSetting::Browser => {
            return FlowChoice::new(LoginFlow::Browser, "sso_agent_login_flow = browser")
        }
        FlowSetting::DeviceCode => {
            return FlowChoice::new(LoginFlow::DeviceCode, "sso_agent_login_flow = device-code")
        }
        FlowSetting::Auto => {}
    }
    let set = |value: &Option<String>| value.as_deref().is_some_and(|v| !v.is_empty());
    match env.platform {
        Some(Platform::Linux) => {
            if set(&env.display) {
                FlowChoice::new(LoginFlow::Browser, "DISPLAY is set")
            } else if set(&env.wayland_display) {
                FlowChoice::new(LoginFlow::Browser, "WAYLAND_DISPLAY is set")
            } else {
                FlowChoice::new(LoginFlow::DeviceCode, no_display(env))
            }
        }
        Some(Platform::MacOs) => {
            if env.ssh {
                FlowChoice::new(
                    LoginFlow::DeviceCode,
                    "no GUI session (the agent runs under SSH)",
                )
            } else if env.console_user {
                FlowChoice::new(
                    LoginFlow::Browser,
                    "a GUI session (the console is this user's)",
                )
            } else {
                FlowChoice::new(
                    LoginFlow::DeviceCode,
                    "no GUI session (the console is not this user's)",
                )
            }
        }
        Some(Platform::Other) | None => FlowChoice::new(
            LoginFlow::DeviceCode,
            "no way to tell a display on this platform",
        ),
    }
}

fn no_display(env: &FlowEnvironment) -> &'static str {
    if env.ssh {
        "no display (SSH session without X forwarding)"
    } else if env.wsl {
        "no display (WSL without WSLg)"
    } else if env.container {
        "no display (a container without one)"
    } else {
        "no display (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    }
}

impl FlowEnvironment {
    /// The agent's own environment, now.
    pub fn current() -> Self {
        let var = |name: &str| std::env::var(name).ok();
        let present = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        let platform = if cfg!(target_os = "linux") {
            Platform::Linux
        } else if cfg!(target_os = "macos") {
            Platform::MacOs
        } else {
            Platform::Other
        };
        Self {
            platform: Some(platform),
            display: var("DISPLAY"),
            wayland_display: var("WAYLAND_DISPLAY"),
            ssh: present("SSH_CONNECTION") || present("SSH_TTY"),
            wsl: present("WSL_DISTRO_NAME") || present("WSL_INTEROP"),
            container: std::path::Path::new("/.dockerenv").exists()
                || std::path::Path::new("/run/.containerenv").exists(),
            console_user: console_is_ours(),
        }
    }
}

/// macOS: the GUI (console) session belongs to the user whose uid owns `/dev/console`.
#[cfg(target_os = "macos")]
fn console_is_ours() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/dev/console")
        .is_ok_and(|console| console.uid() == rustix::process::getuid().as_raw())
}

#[cfg(not(target_os = "macos"))]
fn console_is_ours() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux() -> FlowEnvironment {
        FlowEnvironment {
            platform: Some(Platform::Linux),
            ..FlowEnvironment::default()
        }
    }

    fn choose(env: &FlowEnvironment) -> (LoginFlow, String) {
        let choice = decide(FlowSetting::Auto, false, env);
        (choice.flow, choice.reason)
    }

    #[test]
    fn a_display_means_the_browser() {
        let env = FlowEnvironment {
            display: Some(":0".into()),
            ..linux()
        };
        assert_eq!(
            choose(&env),
            (LoginFlow::Browser, "DISPLAY is set".to_string())
        );
        let env = FlowEnvironment {
            wayland_display: Some("wayland-0".into()),
            ..linux()
        };
        assert_eq!(
            choose(&env),
            (LoginFlow::Browser, "WAYLAND_DISPLAY is set".to_string())
        );
    }

    #[test]
    fn a_display_wins_over_ssh_wsl_and_containers() {
        // X forwarding over SSH, WSLg, a container given the host's display: a browser shows.
        let env = FlowEnvironment {
            display: Some("localhost:10.0".into()),
            ssh: true,
            wsl: true,
            container: true,
            ..linux()
        };
        assert_eq!(choose(&env).0, LoginFlow::Browser);
    }

    #[test]
    fn no_display_means_the_device_code_with_the_likely_cause() {
        let empty = FlowEnvironment {
            display: Some(String::new()),
            wayland_display: Some(String::new()),
            ..linux()
        };
        assert_eq!(
            choose(&empty),
            (
                LoginFlow::DeviceCode,
                "no display (neither DISPLAY nor WAYLAND_DISPLAY is set)".to_string()
            )
        );
        let ssh = FlowEnvironment {
            ssh: true,
            ..linux()
        };
        assert_eq!(
            choose(&ssh).1,
            "no display (SSH session without X forwarding)"
        );
        let wsl = FlowEnvironment {
            wsl: true,
            ..linux()
        };
        assert_eq!(choose(&wsl).1, "no display (WSL without WSLg)");
        let container = FlowEnvironment {
            container: true,
            ..linux()
        };
        assert_eq!(choose(&container).1, "no display (a container without one)");
    }

    #[test]
    fn macos_wants_a_gui_session_of_this_user_and_no_ssh() {
        let mac = |ssh, console_user| FlowEnvironment {
            platform: Some(Platform::MacOs),
            ssh,
            console_user,
            ..FlowEnvironment::default()
        };
        assert_eq!(choose(&mac(false, true)).0, LoginFlow::Browser);
        assert_eq!(choose(&mac(true, true)).0, LoginFlow::DeviceCode);
        assert_eq!(choose(&mac(false, false)).0, LoginFlow::DeviceCode);
        // DISPLAY means nothing there (XQuartz aside).
        let xquartz = FlowEnvironment {
            display: Some(":0".into()),
            ..mac(false, false)
        };
        assert_eq!(choose(&xquartz).0, LoginFlow::DeviceCode);
    }

    #[test]
    fn the_key_and_the_flag_override_the_environment() {
        let display = FlowEnvironment {
            display: Some(":0".into()),
            ..linux()
        };
        let headless = linux();
        let device = decide(FlowSetting::DeviceCode, false, &display);
        assert_eq!(
            (device.flow, device.reason.as_str()),
            (LoginFlow::DeviceCode, "sso_agent_login_flow = device-code")
        );
        let browser = decide(FlowSetting::Browser, false, &headless);
        assert_eq!(
            (browser.flow, browser.reason.as_str()),
            (LoginFlow::Browser, "sso_agent_login_flow = browser")
        );
        // The flag wins over the key too.
        for setting in [FlowSetting::Auto, FlowSetting::Browser] {
            let flag = decide(setting, true, &display);
            assert_eq!(
                (flag.flow, flag.reason.as_str()),
                (LoginFlow::DeviceCode, "--use-device-code")
            );
        }
    }

    #[test]
    fn the_key_takes_three_values_and_nothing_else() {
        assert_eq!(FlowSetting::parse("auto"), Some(FlowSetting::Auto));
        assert_eq!(FlowSetting::parse(" Browser "), Some(FlowSetting::Browser));
        assert_eq!(
            FlowSetting::parse("device-code"),
            Some(FlowSetting::DeviceCode)
        );
        for bad in ["", "device", "pkce", "device_code"] {
            assert_eq!(FlowSetting::parse(bad), None, "{bad}");
        }
    }
}
