//! `sso-agent ssh` against a real OpenSSH server: sshd on 127.0.0.1 and an unused port, its own
//! host key, an sshd_config that keeps OpenSSH's forwarding defaults (`StreamLocalBindUnlink no`
//! said out loud), and a throwaway remote user per test with a key and a home of its own. The
//! remote side runs the real `sso-agent-credential-process` as that user, through the forward.
//! Needs root (for the user and sshd) and /usr/sbin/sshd (`scripts/test` installs
//! openssh-server); otherwise each test says why and passes without running.

mod common;

use common::desktop::Desktop;
use common::home::{approving_world, AgentHome};
use serde_json::Value;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

/// Why these tests cannot run here, if they cannot.
fn cannot_run() -> Option<String> {
    if rustix::process::getuid().as_raw() != 0 {
        return Some("not root: a remote user and sshd need root".into());
    }
    if !Path::new(SSHD).is_file() {
        return Some(format!(
            "no {SSHD}: install openssh-server (scripts/test does)"
        ));
    }
    if Command::new("ssh").arg("-V").output().is_err() {
        return Some("no ssh: install openssh-client (scripts/test does)".into());
    }
    None
}

macro_rules! require_sshd {
    () => {
        // CI is root and scripts/test installs OpenSSH: a missing part fails, never skips.
        if let Some(reason) = cannot_run() {
            panic!("these tests cannot run here: {reason}");
        }
    };
}

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {:?}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A throwaway user with a home of its own and the two binaries in `~/bin`.
struct RemoteUser {
    name: String,
    uid: u32,
    home: PathBuf,
    base: PathBuf,
}

static USERS: AtomicUsize = AtomicUsize::new(0);

impl RemoteUser {
    fn create(key: &Path) -> Self {
        let n = USERS.fetch_add(1, Ordering::SeqCst);
        let name = format!("ssofw{}x{n}", std::process::id());
        // Under /tmp, open to traversal: sshd and the user must reach the home.
        let base = std::env::temp_dir().join(format!("sso-agent-ssh-{name}"));
        let home = base.join("home");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::create_dir_all(home.join("bin")).unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
        run(Command::new("useradd")
            .args(["-M", "-d"])
            .arg(&home)
            .args(["-s", "/bin/sh", "-p", "*", &name]));
        let pubkey = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        std::fs::write(home.join(".ssh/authorized_keys"), pubkey).unwrap();
        for binary in [
            env!("CARGO_BIN_EXE_sso-agent"),
            env!("CARGO_BIN_EXE_sso-agent-credential-process"),
        ] {
            let target = home
                .join("bin")
                .join(Path::new(binary).file_name().unwrap());
            std::fs::copy(binary, &target).unwrap();
        }
        run(Command::new("chown")
            .arg("-R")
            .arg(format!("{name}:{name}"))
            .arg(&home));
        std::fs::set_permissions(home.join(".ssh"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        let uid = std::fs::metadata(&home).unwrap().uid();
        Self {
            name,
            uid,
            home,
            base,
        }
    }

    /// The forwarded sockets of this user in /tmp.
    fn forwards(&self) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/tmp")
            .unwrap()
            .flatten()
            .filter(|entry| {
                entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with("sso-agent-forward-")
            })
            .filter(|entry| {
                std::fs::symlink_metadata(entry.path()).is_ok_and(|m| m.uid() == self.uid)
            })
            .map(|entry| entry.path())
            .collect();
        found.sort();
        found
    }

    /// Processes of this user, with their command lines.
    fn processes(&self) -> Vec<String> {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|entry| {
                entry.file_name().to_string_lossy().parse::<u32>().is_ok()
                    && std::fs::metadata(entry.path()).is_ok_and(|m| m.uid() == self.uid)
            })
            .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
            .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
            .collect()
    }

    fn helper(&self) -> String {
        self.home
            .join("bin/sso-agent-credential-process")
            .display()
            .to_string()
    }
}

impl Drop for RemoteUser {
    fn drop(&mut self) {
        for forward in self.forwards() {
            let _ = std::fs::remove_file(forward);
        }
        let _ = std::fs::remove_dir_all(format!("/tmp/sso-agent-{}", self.uid));
        // sshd's session process may still be ending after the client exits: userdel refuses
        // a user with processes, so it is tried again for a few seconds.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !Command::new("userdel")
            .arg(&self.name)
            .output()
            .is_ok_and(|output| output.status.success())
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// sshd on 127.0.0.1 with its own host key, and a client config (`ssh -F`) naming it `remote`.
struct Sshd {
    dir: tempfile::TempDir,
    child: Child,
    user: RemoteUser,
    /// More users on the same server (a second hop).
    others: Vec<RemoteUser>,
    port: u16,
}

impl Sshd {
    fn start() -> Self {
        Self::start_for(1)
    }

    /// sshd for `users` throwaway users (all with the same key).
    fn start_for(users: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        for key in ["host_key", "user_key"] {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(path.join(key)));
        }
        let user = RemoteUser::create(&path.join("user_key"));
        let others: Vec<RemoteUser> = (1..users)
            .map(|_| RemoteUser::create(&path.join("user_key")))
            .collect();
        let allowed: Vec<&str> = std::iter::once(user.name.as_str())
            .chain(others.iter().map(|other| other.name.as_str()))
            .collect();
        // Privilege separation wants this directory (Debian's unit creates it).
        std::fs::create_dir_all("/run/sshd").unwrap();
        let log = path.join("sshd.log");
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            // OpenSSH's defaults for forwarding; StreamLocalBindUnlink said out loud, since a
            // reconnection against it is what the per-connection path is for.
            let config = format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {dir}/sshd.pid\n\
                 AuthorizedKeysFile .ssh/authorized_keys\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin no\n\
                 AllowUsers {users}\nStreamLocalBindUnlink no\nAllowStreamLocalForwarding yes\n\
                 X11Forwarding no\n",
                host_key = path.join("host_key").display(),
                dir = path.display(),
                users = allowed.join(" "),
            );
            std::fs::write(path.join("sshd_config"), config).unwrap();
            let host_key = std::fs::read_to_string(path.join("host_key.pub")).unwrap();
            std::fs::write(
                path.join("known_hosts"),
                format!("[127.0.0.1]:{port} {host_key}"),
            )
            .unwrap();
            std::fs::write(
                path.join("ssh_config"),
                format!(
                    "Host remote\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {key}\n  \
                     IdentitiesOnly yes\n  BatchMode yes\n  StrictHostKeyChecking yes\n  \
                     UserKnownHostsFile {known}\n  GlobalKnownHostsFile /dev/null\n  ControlMaster no\n  ControlPath none\n",
                    user = user.name,
                    key = path.join("user_key").display(),
                    known = path.join("known_hosts").display(),
                ),
            )
            .unwrap();
            let mut child = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(path.join("sshd_config"))
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Self {
                        dir,
                        child,
                        user,
                        others,
                        port,
                    };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    last_error = std::fs::read_to_string(&log).unwrap_or_default();
                    break; // the port was taken meanwhile: another one
                }
                assert!(Instant::now() < deadline, "sshd did not listen");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("sshd would not start: {last_error}");
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("ssh_config")
    }

    /// `sso-agent ssh -F CONFIG [EXTRA…] remote COMMAND` in `world`.
    fn through_agent(&self, world: &AgentHome, extra: &[&str], command: &str) -> Output {
        let config = self.config();
        let mut args = vec!["ssh", "-F", config.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.extend(["remote", command]);
        world.command(&args).stdin(Stdio::null()).output().unwrap()
    }

    /// Plain `ssh` (no forward) to the remote user.
    fn plain(&self, command: &str) -> Output {
        Command::new("ssh")
            .arg("-F")
            .arg(self.config())
            .args(["remote", command])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn credentials_of(output: &Output, sshd: &Sshd) -> Value {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}\nsshd: {}",
        output.status,
        text(&output.stdout),
        text(&output.stderr),
        sshd.log()
    );
    let stdout = text(&output.stdout);
    let json = &stdout[stdout.find('{').expect("credential_process JSON")..];
    serde_json::from_str(json.trim()).unwrap()
}

/// The credentials the emulator issued reach the remote user's helper on a first connection,
/// and again on a second one after the first closed and left its socket behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_helper_gets_the_credentials_on_a_first_and_a_second_connection() {
    require_sshd!();
    let (emulator, world) = approving_world("ssh-twice").await;
    let sshd = Sshd::start();
    let remote = &sshd.user;
    // The remote helper has no AWS config at all: the profile is the laptop's.
    assert!(!remote.home.join(".aws").exists());
    let helper = format!(
        "SSO_AGENT_LOGIN_WAIT=always {} --profile dev",
        remote.helper()
    );

    let first = sshd.through_agent(&world, &[], &helper);
    let credentials = credentials_of(&first, &sshd);
    assert_eq!(credentials["Version"], 1);
    let secret = credentials["SecretAccessKey"].as_str().unwrap().to_string();
    assert!(
        emulator.state.issued_secrets().contains(&secret),
        "the emulator issued these credentials"
    );
    // A stock sshd leaves the socket behind when the connection ends.
    let left_behind = remote.forwards();
    assert_eq!(left_behind.len(), 1, "{left_behind:?}");

    // What outlasts the connection stays the laptop's: a remote logout is refused.
    let logout = format!(
        "{} logout --all; {helper}",
        remote.home.join("bin/sso-agent").display()
    );
    let second = sshd.through_agent(&world, &[], &logout);
    assert!(
        text(&second.stderr).contains("not served over a forwarded socket"),
        "{}",
        text(&second.stderr)
    );
    let again = credentials_of(&second, &sshd);
    assert_eq!(again["SecretAccessKey"], credentials["SecretAccessKey"]);
    assert!(
        !text(&second.stderr).contains("forwarding failed"),
        "{}",
        text(&second.stderr)
    );
    // The second connection had its own path; the first's dead socket stays (its name the
    // user's, so nobody else can take it over).
    let now = remote.forwards();
    assert_eq!(now.len(), 2, "{now:?}");
    assert!(now.contains(&left_behind[0]), "{now:?}");
    // Served from the laptop's cache: one GetRoleCredentials for both connections.
    let calls = common::calls(&emulator).await;
    assert_eq!(common::count(&calls, "GetRoleCredentials", None), 1);
}

/// A login a remote helper starts shows its code on the remote terminal (a pty, `ssh -tt`) and
/// in the laptop's desktop notification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_triggered_login_shows_its_code_on_the_remote_pty_and_the_local_desktop() {
    require_sshd!();
    let desktop = Desktop::start();
    let (_emulator, world) = approving_world("ssh-login").await;
    let sshd = Sshd::start();
    // No SSO_AGENT_LOGIN_WAIT: the helper waits because the remote terminal took the prompt.
    let helper = format!("{} --profile dev", sshd.user.helper());
    let output = sshd.through_agent(&world, &["-tt"], &helper);
    let credentials = credentials_of(&output, &sshd);
    assert_eq!(credentials["Version"], 1);
    let stdout = text(&output.stdout);
    let code_at = stdout
        .find("user_code=")
        .unwrap_or_else(|| panic!("no link with a code on the remote pty: {stdout}"));
    let code: String = stdout[code_at + "user_code=".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    assert!(code.len() >= 8, "{stdout}");
    assert!(stdout.contains(&format!("the code {code}")), "{stdout}");
    let recorded = desktop.wait_for("the laptop's notification", &code);
    assert!(
        recorded.contains(&format!("AWS login needed: {}", world.session)),
        "{recorded}"
    );
}

/// Once the connection that forwarded the agent is gone, the remote helper says so and starts
/// no agent of its own there (the `sso-agent` binary is beside it, so it could).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_forward_is_named_and_no_agent_starts_on_the_remote_host() {
    require_sshd!();
    let (_emulator, world) = approving_world("ssh-dead").await;
    let sshd = Sshd::start();
    let remote = &sshd.user;
    let forwarded = sshd.through_agent(&world, &[], "true");
    assert!(forwarded.status.success(), "{}", text(&forwarded.stderr));
    assert_eq!(remote.forwards().len(), 1);

    let output = sshd.plain(&format!("{} --profile dev", remote.helper()));
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("the SSH connection that forwarded the agent is gone"),
        "{stderr}"
    );
    assert!(stderr.contains("sso-agent ssh"), "{stderr}");
    assert!(output.stdout.is_empty());
    std::thread::sleep(Duration::from_millis(300));
    let daemons: Vec<_> = remote
        .processes()
        .into_iter()
        .filter(|cmdline| cmdline.contains("daemon"))
        .collect();
    assert!(daemons.is_empty(), "an agent started remotely: {daemons:?}");
    assert!(!Path::new(&format!("/tmp/sso-agent-{}", remote.uid)).exists());
    // The dead forward stays, so the next helper says the same.
    assert_eq!(remote.forwards().len(), 1);
}

/// A listener that counts connections and bytes, bound at `path` and then given to `owner`.
struct Squatter {
    connections: Arc<AtomicUsize>,
    bytes: Arc<AtomicUsize>,
    path: PathBuf,
}

impl Squatter {
    fn bind(path: PathBuf, owner: u32, mode: u32) -> Self {
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        std::os::unix::fs::chown(&path, Some(owner), None).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let bytes = Arc::new(AtomicUsize::new(0));
        let (seen, read) = (connections.clone(), bytes.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                seen.fetch_add(1, Ordering::SeqCst);
                let read = read.clone();
                std::thread::spawn(move || {
                    let mut stream = stream;
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = std::io::Read::read(&mut stream, &mut buf) {
                        if n == 0 {
                            break;
                        }
                        read.fetch_add(n, Ordering::SeqCst);
                    }
                });
            }
        });
        Self {
            connections,
            bytes,
            path,
        }
    }
}

impl Drop for Squatter {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Another uid's socket at the forward path is never connected to; a socket the user owns that
/// another uid serves is refused before a byte is sent; the user's real forward still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_uids_socket_at_the_forward_path_is_refused() {
    require_sshd!();
    let (_emulator, world) = approving_world("ssh-squat").await;
    let sshd = Sshd::start();
    let remote = &sshd.user;
    let tag = format!("{}x{}", std::process::id(), remote.uid);
    // nobody's, as sshd would bind it for nobody.
    let foreign = Squatter::bind(
        sso_agent::forward::forward_path(&format!("squat{tag}")),
        65534,
        0o600,
    );
    // The user's file, but root listens on it (bound by root, then handed over).
    let impostor = Squatter::bind(
        sso_agent::forward::forward_path(&format!("impostor{tag}")),
        remote.uid,
        0o600,
    );

    let helper = format!("SSO_AGENT_NO_AUTOSTART=1 {} --profile dev", remote.helper());
    let output = sshd.plain(&helper);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("the agent is not running"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{} (it belongs to uid 65534",
            foreign.path.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "refusing the agent socket {}: it is served by uid 0 (root)",
            impostor.path.display()
        )),
        "{stderr}"
    );
    assert_eq!(foreign.connections.load(Ordering::SeqCst), 0);
    assert_eq!(impostor.bytes.load(Ordering::SeqCst), 0);

    // With a real forward beside them, the helper uses it and neither of them.
    let output = sshd.through_agent(
        &world,
        &[],
        &format!(
            "SSO_AGENT_LOGIN_WAIT=always {} --profile dev",
            remote.helper()
        ),
    );
    assert_eq!(credentials_of(&output, &sshd)["Version"], 1);
    assert_eq!(foreign.connections.load(Ordering::SeqCst), 0);
    assert_eq!(impostor.bytes.load(Ordering::SeqCst), 0);
}

/// A desktop whose dunst context menu (`dunstctl context`) picks the action named `choice`.
fn desktop_choosing(dir: &Path, choice: &str) -> Desktop {
    let dmenu = dir.join("dmenu.sh");
    let picked = dir.join("dmenu-saw");
    std::fs::write(
        &dmenu,
        format!(
            "#!/bin/sh\ntee {} | grep -m1 '{choice}'\n",
            picked.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&dmenu, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.join("dunstrc");
    std::fs::write(
        &config,
        format!("[global]\n    dmenu = {}\n", dmenu.display()),
    )
    .unwrap();
    Desktop::start_with(&["-config".as_ref(), config.as_os_str()])
}

/// Starts `sso-agent ssh --confirm remote COMMAND` in the background.
fn confirmed_ssh(sshd: &Sshd, world: &AgentHome, command: &str) -> Child {
    let config = sshd.config();
    world
        .command(&[
            "ssh",
            "--confirm",
            "-F",
            config.to_str().unwrap(),
            "remote",
            command,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `--confirm`, Deny: the remote helper gets no credentials and says why, a second request on
/// the same connection is refused without asking again, and the agent fetched nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_with_deny_gets_no_credentials() {
    require_sshd!();
    let (emulator, world) = approving_world("ssh-deny").await;
    let sshd = Sshd::start();
    let desktop = desktop_choosing(sshd.dir.path(), "Deny");
    let helper = format!(
        "SSO_AGENT_LOGIN_WAIT=always {} --profile dev",
        sshd.user.helper()
    );
    let child = confirmed_ssh(&sshd, &world, &format!("{helper}; echo second; {helper}"));
    let recorded = desktop.wait_for("the confirmation", "a remote host asks");
    assert!(
        recorded.contains("credentials for profile dev"),
        "{recorded}"
    );
    assert!(recorded.contains("string \"Allow\""), "{recorded}");
    desktop.choose();
    let output = child.wait_with_output().unwrap();
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(!stdout.contains("AccessKeyId"), "{stdout}");
    assert!(stdout.contains("second"), "{stdout}");
    assert_eq!(
        stderr.matches("denied on the agent's host").count(),
        2,
        "{stderr}"
    );
    let asked = desktop.recorded().matches("a remote host asks").count();
    assert_eq!(asked, 1, "asked once per connection");
    let calls = common::calls(&emulator).await;
    assert_eq!(common::count(&calls, "GetRoleCredentials", None), 0);
    // The agent's socket for that ssh went with it.
    let forwards = world.socket.parent().unwrap().join("forwards");
    common::desktop::wait_until("the forward socket to close", || {
        std::fs::read_dir(&forwards).map_or(true, |entries| entries.count() == 0)
    });
}

/// `--confirm`, Allow: the same connection's requests are served, asked once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_with_allow_serves_the_connection() {
    require_sshd!();
    let (_emulator, world) = approving_world("ssh-allow").await;
    let sshd = Sshd::start();
    let desktop = desktop_choosing(sshd.dir.path(), "Allow");
    let helper = format!(
        "SSO_AGENT_LOGIN_WAIT=always {} --profile dev",
        sshd.user.helper()
    );
    let child = confirmed_ssh(&sshd, &world, &format!("{helper} && {helper}"));
    desktop.wait_for("the confirmation", "a remote host asks");
    desktop.choose();
    let output = child.wait_with_output().unwrap();
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    assert_eq!(stdout.matches("AccessKeyId").count(), 2, "{stdout}");
    assert_eq!(desktop.recorded().matches("a remote host asks").count(), 1);
}

/// The `ssh-config` lines, appended to a plain ssh's config: the remote helper finds the
/// agent's own socket forwarded, and is answered from the laptop's config although its own
/// AWS_CONFIG_FILE names another file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ssh_config_lines_forward_the_agent_to_a_plain_ssh() {
    require_sshd!();
    let (_emulator, world) = approving_world("ssh-config").await;
    let sshd = Sshd::start();
    let lines = common::home::stdout_of(&world.run(&["ssh-config", "remote"]));
    assert!(
        lines.contains("RemoteForward /tmp/sso-agent-forward-%C.sock"),
        "{lines}"
    );
    let mut config = std::fs::read_to_string(sshd.config()).unwrap();
    config.push_str(&lines);
    std::fs::write(sshd.config(), config).unwrap();
    let output = sshd.plain(&format!(
        "AWS_CONFIG_FILE=$HOME/elsewhere SSO_AGENT_LOGIN_WAIT=always {} --profile dev",
        sshd.user.helper()
    ));
    assert_eq!(credentials_of(&output, &sshd)["Version"], 1);
}

/// Two hops: `sso-agent ssh` on a host that got a forward forwards it on. The second hop is
/// another user, who sees only the second forward, so the credentials came through both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forward_is_forwarded_on_by_sso_agent_ssh_on_the_remote_host() {
    require_sshd!();
    let (_emulator, world) = approving_world("ssh-chain").await;
    let sshd = Sshd::start_for(2);
    let (first, second) = (&sshd.user, &sshd.others[0]);
    // The first hop's user may log in as the second, with its own copy of the key.
    let ssh_dir = first.home.join(".ssh");
    std::fs::copy(sshd.dir.path().join("user_key"), ssh_dir.join("id_hop")).unwrap();
    std::fs::copy(
        sshd.dir.path().join("known_hosts"),
        ssh_dir.join("known_hosts_hop"),
    )
    .unwrap();
    std::fs::write(
        ssh_dir.join("config"),
        format!(
            "Host hop2\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile ~/.ssh/id_hop\n  \
             IdentitiesOnly yes\n  BatchMode yes\n  StrictHostKeyChecking yes\n  \
             UserKnownHostsFile ~/.ssh/known_hosts_hop\n",
            sshd.port, second.name
        ),
    )
    .unwrap();
    run(Command::new("chown")
        .arg("-R")
        .arg(format!("{0}:{0}", first.name))
        .arg(&ssh_dir));
    std::fs::set_permissions(
        ssh_dir.join("id_hop"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();

    let command = format!(
        "{}/bin/sso-agent ssh hop2 SSO_AGENT_LOGIN_WAIT=always {} --profile dev",
        first.home.display(),
        second.helper()
    );
    let output = sshd.through_agent(&world, &[], &command);
    assert_eq!(credentials_of(&output, &sshd)["Version"], 1);
    assert_eq!(first.forwards().len(), 1);
    assert_eq!(second.forwards().len(), 1);

    // On a forwarded host, lines naming this connection's socket would outlive it, and
    // --confirm cannot be asked there: both refused, not done halfway.
    let bin = format!("{}/bin/sso-agent", first.home.display());
    let refused = sshd.through_agent(
        &world,
        &[],
        &format!("{bin} ssh-config hop2; {bin} ssh --confirm hop2 true"),
    );
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("run `sso-agent ssh-config hop2` on the agent's own host"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--confirm cannot be asked here"),
        "{stderr}"
    );
    assert!(!text(&refused.stdout).contains("RemoteForward"));
}
