//! The client trusts nothing on the socket path it did not check: a directory another user made
//! first, a symlink to one, a server running as another user. Each is a real listener that
//! records what reaches it; the real `sso-agent` and `sso-agent-credential-process` must refuse
//! with one line before sending a byte. These tests need root (to be "another user"); CI runs as
//! root, so they fail rather than skip when they cannot.

mod common;

use common::home::AgentHome;
use std::io::{BufRead, Read};
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_sso-agent");
const HELPER: &str = env!("CARGO_BIN_EXE_sso-agent-credential-process");
const NOBODY: u32 = 65534;

fn require_root() {
    assert_eq!(
        sso_agent::paths::current_uid(),
        0,
        "these tests play another user (`nobody`) and need root, as CI has"
    );
}

/// A private scratch directory (0700, root's) for one test.
fn scratch(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sso-agent-trust-{label}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).unwrap();
}

/// Another user's socket: a listener in a directory `nobody` owns, counting every connection
/// and byte that reaches it.
struct Squatter {
    dir: PathBuf,
    socket: PathBuf,
    connections: Arc<AtomicUsize>,
    bytes: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Squatter {
    fn new(parent: &Path) -> Self {
        let dir = parent.join("squatted");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let socket = dir.join("agent.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
        chown(&socket, NOBODY);
        chown(&dir, NOBODY);
        listener.set_nonblocking(true).unwrap();
        let (connections, bytes, stop) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let thread = {
            let (connections, bytes, stop) = (connections.clone(), bytes.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            connections.fetch_add(1, Ordering::SeqCst);
                            stream.set_nonblocking(false).unwrap();
                            stream
                                .set_read_timeout(Some(Duration::from_secs(2)))
                                .unwrap();
                            let mut received = Vec::new();
                            let _ = stream.read_to_end(&mut received);
                            bytes.fetch_add(received.len(), Ordering::SeqCst);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Self {
            dir,
            socket,
            connections,
            bytes,
            stop,
            thread: Some(thread),
        }
    }

    /// Zero bytes reached it (and nobody connected at all). Waits for a connection's read.
    fn assert_untouched(&self) {
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            self.bytes.load(Ordering::SeqCst),
            0,
            "bytes reached the squatter"
        );
        assert_eq!(
            self.connections.load(Ordering::SeqCst),
            0,
            "the squatter was connected to"
        );
    }
}

impl Drop for Squatter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A client command on `socket`, in a HOME with an empty config, autostart as asked.
fn client(program: &str, args: &[&str], root: &Path, socket: &Path, autostart: bool) -> Output {
    let home = root.join("home");
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(
        home.join(".aws/config"),
        "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n\n\
         [profile dev]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Developer\n",
    )
    .unwrap();
    let mut command = Command::new(program);
    command
        .args(args)
        .env("HOME", &home)
        .env("AWS_CONFIG_FILE", home.join(".aws/config"))
        .env("SSO_AGENT_SOCKET", socket)
        .env("SSO_AGENT_STORE", "memory")
        .env_remove("SSO_AGENT_NO_AUTOSTART")
        .env_remove("BROWSER")
        .stdin(Stdio::null());
    if !autostart {
        command.env("SSO_AGENT_NO_AUTOSTART", "1");
    }
    command.output().unwrap()
}

/// The refusal: fails, one line, names the path and the owner, gives a safe fix.
fn assert_refused(output: &Output, path: &Path, owner: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!output.status.success(), "it was refused: {stderr}");
    assert!(output.stdout.is_empty(), "nothing on stdout");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(&path.display().to_string()),
        "names the path: {stderr}"
    );
    assert!(stderr.contains(owner), "names the owner: {stderr}");
    assert!(
        stderr.contains("SSO_AGENT_SOCKET"),
        "says what to do: {stderr}"
    );
    assert!(
        !stderr.contains("chmod"),
        "never a chmod of someone else's directory: {stderr}"
    );
    stderr
}

/// Every client, with and without autostart.
fn every_client(root: &Path, socket: &Path, check: impl Fn(&str, Output)) {
    let cases: [(&str, &[&str]); 3] = [
        (BIN, &["credential-process", "--profile", "dev"]),
        (HELPER, &["--profile", "dev"]),
        (BIN, &["login", "--sso-session", "corp", "--no-browser"]),
    ];
    for (program, args) in cases {
        for autostart in [false, true] {
            let label = format!("{} {} (autostart {autostart})", program, args.join(" "));
            check(&label, client(program, args, root, socket, autostart));
        }
    }
}

#[test]
fn a_directory_another_user_made_first_gets_zero_bytes() {
    require_root();
    let root = scratch("squat");
    let squatter = Squatter::new(&root);
    every_client(&root, &squatter.socket, |label, output| {
        let stderr = assert_refused(&output, &squatter.dir, "nobody");
        assert!(stderr.contains("belongs to uid 65534"), "{label}: {stderr}");
    });
    squatter.assert_untouched();
    assert!(
        std::fs::read_dir(&squatter.dir).unwrap().count() == 1,
        "autostart put nothing in the squatter's directory"
    );
    drop(squatter);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_symlink_to_another_users_directory_gets_zero_bytes() {
    require_root();
    let root = scratch("link");
    let squatter = Squatter::new(&root);
    let link = root.join("sso-agent");
    std::os::unix::fs::symlink(&squatter.dir, &link).unwrap();
    let socket = link.join("agent.sock");
    every_client(&root, &socket, |label, output| {
        let stderr = assert_refused(&output, &link, &squatter.dir.display().to_string());
        assert!(stderr.contains("is a symlink"), "{label}: {stderr}");
    });
    // The daemon does not follow it either.
    let output = client(BIN, &["daemon"], &root, &socket, false);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("is a symlink"), "{stderr}");
    squatter.assert_untouched();
    drop(squatter);
    std::fs::remove_dir_all(&root).unwrap();
}

/// A server whose listening socket belongs to `nobody` (it called `listen()` as `nobody`), in a
/// directory that passes every check: only SO_PEERCRED tells it apart.
#[test]
fn a_server_running_as_another_user_gets_zero_bytes() {
    require_root();
    let root = scratch("peer");
    let dir = root.join("run");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let socket = dir.join("agent.sock");
    // Bound as root in root's private directory, then listening as nobody: the kernel records
    // the listener's credentials at listen() time.
    let script = r#"
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
os.setgid(65534); os.setuid(65534)
s.listen(16)
print("ready", flush=True)
s.settimeout(20)
total = 0
try:
    while True:
        c, _ = s.accept()
        c.settimeout(2)
        try:
            while True:
                data = c.recv(65536)
                if not data:
                    break
                total += len(data)
        except socket.timeout:
            pass
        c.close()
        print("bytes", total, flush=True)
except socket.timeout:
    pass
"#;
    let mut listener = Command::new("python3")
        .args(["-c", script, &socket.display().to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/test installs it)");
    let mut lines = std::io::BufReader::new(listener.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");

    for (program, args) in [
        (BIN, &["status"][..]),
        (BIN, &["credential-process", "--profile", "dev"][..]),
        (HELPER, &["--profile", "dev"][..]),
        (BIN, &["login", "--sso-session", "corp"][..]),
    ] {
        let output = client(program, args, &root, &socket, true);
        let stderr = assert_refused(&output, &socket, "nobody");
        assert!(stderr.contains("served by uid 65534"), "{stderr}");
        let report = lines.next().unwrap().unwrap();
        assert_eq!(
            report, "bytes 0",
            "zero bytes reached the other user's server"
        );
    }
    let _ = listener.kill();
    let _ = listener.wait();
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn the_advice_for_a_socket_in_tmp_never_says_chmod_and_shows_the_whole_mode() {
    let root = scratch("advice");
    let output = client(BIN, &["daemon"], &root, Path::new("/tmp/x.sock"), false);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(!stderr.contains("chmod"), "{stderr}");
    let root_user = sso_agent::paths::current_uid() == 0;
    assert!(!root_user || stderr.contains("mode 1777"), "{stderr}");
    assert!(stderr.contains("SSO_AGENT_SOCKET"), "{stderr}");
    let output = client(
        BIN,
        &["credential-process", "--profile", "dev"],
        &root,
        Path::new("/tmp/x.sock"),
        false,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("chmod"), "{stderr}");
    assert!(!root_user || stderr.contains("mode 1777"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // No agent ever ran here: no log is named.
    let socket = root.join("run").join("agent.sock");
    std::fs::create_dir(root.join("run")).unwrap();
    std::fs::set_permissions(root.join("run"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let output = client(
        BIN,
        &["credential-process", "--profile", "dev"],
        &root,
        &socket,
        false,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not running"), "{stderr}");
    assert!(
        !stderr.contains("agent.log"),
        "no log is named when there is none: {stderr}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_directory_of_another_user_in_sticky_tmp_says_it_cannot_be_removed() {
    require_root();
    // The user here is `nobody`; the directory in /tmp is root's (another user, for nobody).
    let root = scratch("sticky");
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let theirs = root.join("sso-agent-65534");
    std::fs::create_dir(&theirs).unwrap();
    let helper = root.join("sso-agent-credential-process");
    std::fs::copy(HELPER, &helper).unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = {
        use std::os::unix::process::CommandExt;
        Command::new(&helper)
            .args(["--profile", "dev"])
            .env_clear()
            .env("SSO_AGENT_SOCKET", theirs.join("agent.sock"))
            .uid(NOBODY)
            .gid(NOBODY)
            .output()
            .unwrap()
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("belongs to uid 0"), "{stderr}");
    assert!(stderr.contains("cannot remove it"), "{stderr}");
    assert!(stderr.contains("SSO_AGENT_SOCKET"), "{stderr}");
    assert!(!stderr.contains("chmod"), "{stderr}");
    std::fs::remove_dir_all(&root).unwrap();
}

/// The agent's own check (moved here from tests/agent.rs so that it runs wherever the suite runs
/// as root, as CI does, and fails rather than skips elsewhere). The file-system gates are opened
/// on purpose, so only the agent's SO_PEERCRED check stands in the way of a raw client running as
/// `nobody`; the real client, as `nobody`, already refuses the root-owned directory itself.
#[test]
fn the_socket_is_private_and_another_user_is_refused() {
    require_root();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime.block_on(common::emulator());
    let mut world = AgentHome::new(&emulator, "peer");
    world.start_agent();
    let dir = world.socket.parent().unwrap();
    assert_eq!(std::fs::metadata(dir).unwrap().mode() & 0o777, 0o700);
    assert_eq!(
        std::fs::metadata(&world.socket).unwrap().mode() & 0o777,
        0o600
    );
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::set_permissions(&world.socket, std::fs::Permissions::from_mode(0o666)).unwrap();

    // A raw client as nobody: one status frame, then whatever the agent answers.
    let script = r#"
import os, socket, struct, sys
os.setgid(65534); os.setuid(65534)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
body = b'{"version":9,"type":"status"}'
try:
    s.sendall(struct.pack(">I", len(body)) + body)
except OSError:
    pass
s.settimeout(5)
n = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))[0]
sys.stdout.write(s.recv(n, socket.MSG_WAITALL).decode())
"#;
    let output = Command::new("python3")
        .args(["-c", script, &world.socket.display().to_string()])
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&output.stdout);
    assert!(
        answer.contains("forbidden"),
        "{answer} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(answer.contains("serves uid 0 only"), "{answer}");
    assert!(
        world
            .logs()
            .contains("refused a connection from another user"),
        "{}",
        world.logs()
    );

    let helper = std::env::temp_dir().join(format!("sso-agent-peer-{}", std::process::id()));
    std::fs::copy(HELPER, &helper).unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = {
        use std::os::unix::process::CommandExt;
        Command::new(&helper)
            .args(["--profile", "dev"])
            .env_clear()
            .env("SSO_AGENT_SOCKET", &world.socket)
            .env("SSO_AGENT_NO_AUTOSTART", "1")
            .uid(NOBODY)
            .gid(NOBODY)
            .output()
            .unwrap()
    };
    std::fs::remove_file(&helper).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("belongs to uid 0"), "{stderr}");
}
