//! A user's world for the real `sso-agent` binary: a temporary HOME with `~/.aws/config`, a
//! private socket directory, the emulator's endpoints, and the real Secret Service.

use sso_agent::emulator::RunningEmulator;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_sso-agent");

pub struct AgentHome {
    pub root: PathBuf,
    pub home: PathBuf,
    pub socket: PathBuf,
    pub session: String,
    endpoint: String,
    agents: Vec<Child>,
    /// The emulator's state: every secret it issued is searched for in this world's files.
    issuer: std::sync::Arc<sso_agent::emulator::Emulator>,
    /// The one file the secret search allows: the AWS CLI token cache, once a test turned
    /// `sso_agent_cli_cache` on (`enable_cli_cache`).
    secret_file_allowed: Option<PathBuf>,
}

impl AgentHome {
    /// A HOME whose config has `[sso-session <unique>]` and profiles `dev`, `readonly`
    /// (account 111122223333) and `staging` (account 222233334444).
    pub fn new(emulator: &RunningEmulator, label: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let root =
            std::env::temp_dir().join(format!("sso-agent-{label}-{}-{nanos}", std::process::id()));
        let home = root.join("home");
        std::fs::create_dir_all(home.join(".aws")).unwrap();
        let session = format!("corp-{label}-{nanos}");
        let config = format!(
            "[sso-session {session}]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n\n\
             [profile dev]\nsso_session = {session}\nsso_account_id = 111122223333\nsso_role_name = Developer\n\n\
             [profile readonly]\nsso_session = {session}\nsso_account_id = 111122223333\nsso_role_name = ReadOnly\n\n\
             [profile staging]\nsso_session = {session}\nsso_account_id = 222233334444\nsso_role_name = Developer\n\n\
             [profile nowhere]\nsso_session = {session}\nsso_account_id = 999999999999\nsso_role_name = Developer\n"
        );
        std::fs::write(home.join(".aws/config"), config).unwrap();
        Self {
            socket: root.join("run").join("agent.sock"),
            root,
            home,
            session,
            endpoint: emulator.base_url.clone(),
            agents: Vec::new(),
            issuer: emulator.state.clone(),
            secret_file_allowed: None,
        }
    }

    /// `~/.aws/sso/cache/<sha1 of the session name>.json` in this world.
    pub fn cli_cache_file(&self) -> PathBuf {
        self.home
            .join(".aws/sso/cache")
            .join(sso_agent::cli_cache::file_name(&self.session))
    }

    /// Sets `sso_agent_cli_cache = VALUE` in the world's `[sso-session]` (a running agent sees
    /// the edit); with `true`, the secret search allows the cache file, and only it; with any
    /// other value, not even it.
    pub fn set_cli_cache(&mut self, value: &str) {
        let path = self.home.join(".aws/config");
        let config = std::fs::read_to_string(&path).unwrap();
        let kept: Vec<&str> = config
            .lines()
            .filter(|line| !line.starts_with("sso_agent_cli_cache"))
            .collect();
        let mut edited = kept.join("\n");
        edited.push('\n');
        let edited = edited.replacen(
            "sso_region = us-east-1\n",
            &format!("sso_region = us-east-1\nsso_agent_cli_cache = {value}\n"),
            1,
        );
        std::fs::write(&path, edited).unwrap();
        // The agent notices an edit by the file's mtime: make sure it moves.
        let later = std::time::SystemTime::now() + Duration::from_secs(1);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        self.secret_file_allowed = (value == "true").then(|| self.cli_cache_file());
    }

    /// `sso-agent ARGS` in this world; no autostart unless a test asks for it.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = self.program(BIN);
        command.args(args);
        command
    }

    /// Any program, with this world's environment (as `command` gives `sso-agent`).
    pub fn program(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command
            .env("HOME", &self.home)
            .env("AWS_CONFIG_FILE", self.home.join(".aws/config"))
            .env("SSO_AGENT_SOCKET", &self.socket)
            .env("AWS_ENDPOINT_URL_SSO_OIDC", &self.endpoint)
            .env("AWS_ENDPOINT_URL_SSO", &self.endpoint)
            .env("AWS_ENDPOINT_URL_LICENSE_MANAGER", &self.endpoint)
            .env("AWS_ENDPOINT_URL_STS", &self.endpoint)
            .env("SSO_AGENT_STORE", "secret-service")
            .env("SSO_AGENT_NO_AUTOSTART", "1")
            .env("SSO_AGENT_LOG", "debug")
            // No terminal or notification here: the tests approve logins themselves.
            .env("SSO_AGENT_LOGIN_WAIT", "always")
            // No display either, unless a test gives one: the agent chooses the device code.
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("BROWSER");
        command
    }

    /// Runs a command; its stderr is also kept under this world, for the secret search.
    pub fn run(&self, args: &[&str]) -> Output {
        let output = self.command(args).output().unwrap();
        let mut kept = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join("commands.stderr"))
            .unwrap();
        std::io::Write::write_all(&mut kept, &output.stderr).unwrap();
        output
    }

    /// Fails if any secret the emulator issued (tokens, client secrets, role keys) is in a file
    /// of this world: HOME, the socket directory, the agents' logs, the commands' stderr.
    pub fn assert_no_secret_in_files(&self) {
        let secrets = self.issuer.issued_secrets();
        for file in self.files() {
            if self.secret_file_allowed.as_ref() == Some(&file) {
                continue;
            }
            let content =
                String::from_utf8_lossy(&std::fs::read(&file).unwrap_or_default()).to_string();
            if secrets
                .iter()
                .any(|secret| content.contains(secret.as_str()))
            {
                panic!("an issued secret is in {}", file.display());
            }
        }
    }

    /// Starts `sso-agent daemon` and waits (10 s at most) until its socket answers.
    pub fn start_agent(&mut self) -> u32 {
        self.start_agent_with(|_| {})
    }

    pub fn start_agent_with(&mut self, configure: impl FnOnce(&mut Command)) -> u32 {
        let log = std::fs::File::create(self.root.join(format!("agent-{}.log", self.agents.len())))
            .unwrap();
        let mut command = self.command(&["daemon"]);
        command.stdout(Stdio::null()).stderr(log);
        configure(&mut command);
        let child = command.spawn().unwrap();
        let pid = child.id();
        self.agents.push(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "the agent did not come up: {}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        pid
    }

    /// Every agent log of this world.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for entry in std::fs::read_dir(&self.root).unwrap().flatten() {
            if entry.file_name().to_string_lossy().starts_with("agent-") {
                text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        text
    }

    /// Waits for the agent with `pid` to exit after a signal; its exit status.
    pub fn wait_agent(&mut self, pid: u32) -> std::process::ExitStatus {
        let child = self
            .agents
            .iter_mut()
            .find(|child| child.id() == pid)
            .unwrap();
        child.wait().unwrap()
    }

    /// Every file under this world (HOME, socket directory, logs), for canary searches.
    pub fn files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        walk(&self.root, &mut files);
        files
    }
}

impl Drop for AgentHome {
    fn drop(&mut self) {
        for child in &mut self.agents {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Every test that builds a world gets the secret search, unless it already failed.
        if !std::thread::panicking() {
            self.assert_no_secret_in_files();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A world with its agent running, whose logins the emulator approves by itself.
pub async fn approving_world(label: &str) -> (RunningEmulator, AgentHome) {
    let emulator = super::emulator().await;
    super::scenario(
        &emulator,
        serde_json::json!({"auto_approve_after_polls": 1}),
    )
    .await;
    let mut world = AgentHome::new(&emulator, label);
    world.start_agent();
    (emulator, world)
}

/// `sso-agent credential-process --profile PROFILE` in this world, as JSON.
pub fn credentials(world: &AgentHome, profile: &str) -> serde_json::Value {
    serde_json::from_str(&stdout_of(&world.run(&[
        "credential-process",
        "--profile",
        profile,
    ])))
    .unwrap()
}

/// `sso-agent status --json` in this world.
pub fn status(world: &AgentHome) -> serde_json::Value {
    serde_json::from_str(&stdout_of(&world.run(&["status", "--json"]))).unwrap()
}

/// The stdout of a successful run, or a panic with its stderr.
pub fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The session's item in the Secret Service, as JSON (None when there is none).
pub fn keyring_item(session: &str) -> Option<serde_json::Value> {
    let output = Command::new("secret-tool")
        .args(["lookup", "service", "sso-agent", "username", session])
        .output()
        .expect("secret-tool runs (scripts/test installs libsecret-tools)");
    output
        .status
        .success()
        .then(|| serde_json::from_slice(&output.stdout).expect("the keyring item is whole JSON"))
}
