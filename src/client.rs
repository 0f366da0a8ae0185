//! The blocking client every CLI command uses: std Unix socket, no async runtime, so
//! `credential-process` starts and answers in well under a millisecond. It trusts nothing it
//! did not check: the socket's directory must be the user's own (looked at with `lstat`) and the
//! server's `SO_PEERCRED` uid the user's, before a byte is sent. When no agent answers it starts
//! one (at most one, under a lock) unless `SSO_AGENT_NO_AUTOSTART=1`.

use crate::forward;
use crate::paths::{self, DirCheck, PathError};
use crate::peer::{peer_credentials, PeerCredentials};
use crate::protocol::{self, Envelope, ErrorKind, FrameError, Request, Response, PROTOCOL_VERSION};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A request that may wait for a person to log in waits at most this long.
pub const LOGIN_WAIT: Duration = Duration::from_secs(15 * 60);
/// Any other request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a replaced (older) agent may take to finish and remove its socket.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the agent is not running on {socket} (SSO_AGENT_NO_AUTOSTART is set): start it with `sso-agent daemon` or its service{log}")]
    NotRunning { socket: String, log: String },
    #[error("the agent could not be started: {detail}{log}")]
    StartFailed { detail: String, log: String },
    /// The socket's directory or the server is not the user's: nothing was sent.
    #[error("refusing the agent socket {socket}: {reason}")]
    Untrusted { socket: String, reason: String },
    #[error("talking to the agent on {socket}: {detail}")]
    Io { socket: String, detail: String },
    #[error("{message}")]
    Agent { kind: ErrorKind, message: String },
    /// Forwarded sockets of the user's are there but none answers: the connection that made
    /// them ended. No agent is started on this host in their place.
    #[error("the SSH connection that forwarded the agent is gone: {socket} no longer answers{others}; {advice}", advice = forward::gone_advice())]
    ForwardGone { socket: String, others: String },
}

pub struct AgentClient {
    stream: UnixStream,
    socket: PathBuf,
    peer: PeerCredentials,
    /// The config file requests name (this process's, unless set; none over a forward, where
    /// this host's path means nothing to the agent, which serves its own host's config).
    config_file: Option<String>,
    /// Reached through a socket `sso-agent ssh` forwarded from another host.
    forwarded: bool,
}

/// Why a checked connect did not give a stream.
enum Connect {
    /// Nothing listens there (yet): autostart may help.
    Absent,
    Failed(ClientError),
}

impl AgentClient {
    /// Names `path` as the config file its requests mean, instead of this process's.
    pub fn for_config_file(mut self, path: &Path) -> Self {
        self.config_file = Some(path.display().to_string());
        self
    }

    /// Connects to the agent on the usual socket, starting it if needed and allowed. When the
    /// usual place has no socket (and `SSO_AGENT_SOCKET` does not name one), an agent forwarded
    /// over SSH (`sso-agent ssh`) is looked for next; while forwards of the user's exist but
    /// none answers, nothing is started (`ClientError::ForwardGone`).
    pub fn connect() -> Result<Self, ClientError> {
        let socket = paths::socket_path();
        let chosen = std::env::var_os("SSO_AGENT_SOCKET").is_some_and(|path| !path.is_empty());
        if chosen || std::fs::symlink_metadata(&socket).is_ok() {
            return Self::connect_to(&socket);
        }
        let passed_over = match connect_forwarded() {
            Forwarded::Live(client) => return Ok(*client),
            Forwarded::Gone(err) => return Err(err),
            Forwarded::None { passed_over } => passed_over,
        };
        Self::connect_to(&socket).map_err(|err| match err {
            ClientError::NotRunning { socket, log } if !passed_over.is_empty() => {
                ClientError::NotRunning {
                    socket,
                    log: format!("{log}; passed over {passed_over}"),
                }
            }
            other => other,
        })
    }

    /// Whether this connection came through a socket forwarded over SSH.
    pub fn is_forwarded(&self) -> bool {
        self.forwarded
    }

    pub fn connect_to(socket: &Path) -> Result<Self, ClientError> {
        match Self::connect_existing(socket) {
            Ok(Some(client)) => Ok(client),
            Ok(None) => {
                if !autostart_allowed() {
                    return Err(ClientError::NotRunning {
                        socket: socket.display().to_string(),
                        log: log_hint(&paths::log_path(socket), "; its log is"),
                    });
                }
                start_agent(socket)
            }
            Err(err) => Err(err),
        }
    }

    /// Connects to a running agent, never starting one: `None` when nothing listens.
    pub fn connect_existing(socket: &Path) -> Result<Option<Self>, ClientError> {
        match open_checked(socket) {
            Ok(client) => Ok(Some(client)),
            Err(Connect::Absent) => Ok(None),
            Err(Connect::Failed(err)) => Err(err),
        }
    }

    /// The agent's process, as the kernel reported it at connect.
    pub fn peer(&self) -> PeerCredentials {
        self.peer
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Sends one request and reads its answer; an error answer becomes `ClientError::Agent`.
    /// An agent this client's autostart started that speaks another protocol version (an
    /// upgrade) is stopped and started again, and the request sent once more.
    pub fn request(
        &mut self,
        request: Request,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        match self.request_once(&request, timeout) {
            Err(ClientError::Agent {
                kind: ErrorKind::BadRequest,
                message,
            }) if agent_is_older(&message) && self.was_autostarted() => {
                self.restart()?;
                self.request_once(&request, timeout)
            }
            other => other,
        }
    }

    fn request_once(
        &mut self,
        request: &Request,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let io = |err| io_error(&self.socket, err);
        self.stream.set_read_timeout(Some(timeout)).map_err(io)?;
        self.stream
            .set_write_timeout(Some(REQUEST_TIMEOUT))
            .map_err(io)?;
        let frame = protocol::encode(&Envelope {
            version: PROTOCOL_VERSION,
            config_file: self.config_file.clone(),
            body: request,
        });
        // An agent that refuses the connection answers at once and closes it, so the write may
        // fail; its answer is still there to read.
        let write_failed = match protocol::write_frame(&mut self.stream, &frame) {
            Ok(()) => None,
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                ) =>
            {
                Some(err)
            }
            Err(err) => return Err(io(err)),
        };
        let payload = match protocol::read_frame_within(&mut self.stream, protocol::MAX_RESPONSE) {
            Ok(payload) => zeroize::Zeroizing::new(payload),
            Err(FrameError::Closed) => {
                return Err(io_error(
                    &self.socket,
                    write_failed
                        .unwrap_or_else(|| io::Error::other("the agent closed the connection")),
                ))
            }
            Err(FrameError::Io(err)) => return Err(io_error(&self.socket, err)),
            Err(err) => return Err(io_error(&self.socket, io::Error::other(err.to_string()))),
        };
        match serde_json::from_slice(&payload) {
            Ok(Response::Error { kind, message }) => Err(ClientError::Agent { kind, message }),
            Ok(response) => Ok(response),
            Err(err) => Err(io_error(
                &self.socket,
                io::Error::other(format!(
                    "unreadable answer ({err}); restart the agent if it is an older version (`sso-agent stop`)"
                )),
            )),
        }
    }

    /// True when autostart started the agent on the other end: the marker beside the socket
    /// names the very process the kernel says is listening, and it is the user's.
    fn was_autostarted(&self) -> bool {
        // A forward's server is the user's sshd: never this client's to stop, whatever a file
        // beside it in the shared directory says.
        if self.forwarded {
            return false;
        }
        let Some(pid) = self.peer.pid else {
            return false;
        };
        autostart_allowed()
            && self.peer.uid == paths::current_uid()
            && read_marker(&self.socket) == Some(pid)
    }

    /// Stops the (older) agent with SIGTERM, waits for its socket to go, starts a new one.
    fn restart(&mut self) -> Result<(), ClientError> {
        let pid = self.peer.pid.expect("was_autostarted checked the pid");
        let failed = |detail: String| ClientError::StartFailed {
            detail,
            log: String::new(),
        };
        let target = rustix::process::Pid::from_raw(pid as i32)
            .ok_or_else(|| failed(format!("bad pid {pid}")))?;
        rustix::process::kill_process(target, rustix::process::Signal::TERM).map_err(|err| {
            failed(format!(
                "cannot stop the older agent (pid {pid}) to restart it: {err}"
            ))
        })?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        while std::fs::symlink_metadata(&self.socket).is_ok() {
            if Instant::now() >= deadline {
                return Err(failed(format!(
                    "the older agent (pid {pid}) did not stop within {} s; stop it with `kill {pid}`",
                    STOP_TIMEOUT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // The socket goes just before the agent lets go of its lock: wait for that too, so the
        // new agent does not find the old one still "running".
        if let Ok(lock) = File::open(paths::lock_path(&self.socket)) {
            while lock.try_lock().is_err() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // Its container-credentials grants, if it had any, ended with it; their URL names a port
        // that is free now (see `sso-agent stop`).
        eprintln!("sso-agent: restarted the agent (pid {pid} spoke another protocol version); any container-credentials grants it had ended with it: restart `exec --ecs` commands and re-run `ecs-env`");
        let socket = self.socket.clone();
        *self = start_agent(&socket)?;
        Ok(())
    }
}

fn autostart_allowed() -> bool {
    std::env::var("SSO_AGENT_NO_AUTOSTART").as_deref() != Ok("1")
}

/// Connects after checking the socket's directory, then checks the server's uid. Nothing is
/// written here: a refused socket has received zero bytes.
fn open_checked(socket: &Path) -> Result<AgentClient, Connect> {
    let untrusted = |reason: String| {
        Connect::Failed(ClientError::Untrusted {
            socket: socket.display().to_string(),
            reason,
        })
    };
    let dir = socket.parent().unwrap_or(Path::new("/"));
    match paths::check_private_dir_detailed(dir) {
        Ok(()) => {}
        Err(DirCheck::Missing(err)) if err.kind() == io::ErrorKind::NotFound => {
            return Err(Connect::Absent)
        }
        Err(DirCheck::Missing(err)) => return Err(Connect::Failed(io_error(socket, err))),
        Err(DirCheck::Refused(err)) => return Err(untrusted(err.to_string())),
    }
    connect_and_check(socket)
}

/// Connects and checks the server's uid (the part of `open_checked` after the directory).
fn connect_and_check(socket: &Path) -> Result<AgentClient, Connect> {
    let untrusted = |reason: String| {
        Connect::Failed(ClientError::Untrusted {
            socket: socket.display().to_string(),
            reason,
        })
    };
    let stream = match UnixStream::connect(socket) {
        Ok(stream) => stream,
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(Connect::Absent)
        }
        Err(err) => return Err(Connect::Failed(io_error(socket, err))),
    };
    let peer = peer_credentials(&stream).map_err(|err| {
        untrusted(format!(
            "cannot tell who listens there ({err}); {}",
            paths::PRIVATE_PATH_FIX
        ))
    })?;
    let uid = paths::current_uid();
    if peer.uid != uid {
        return Err(untrusted(format!(
            "it is served by {} and you are {}: another user may be impersonating the agent; {}",
            paths::describe_uid(peer.uid),
            paths::describe_uid(uid),
            paths::PRIVATE_PATH_FIX
        )));
    }
    Ok(AgentClient {
        stream,
        socket: socket.to_path_buf(),
        peer,
        config_file: Some(paths::config_file_from_env()),
        forwarded: false,
    })
}

/// What the forwarded sockets in `forward::FORWARD_DIR` gave.
enum Forwarded {
    /// One of the user's answered, as the user: the client, marked forwarded.
    Live(Box<AgentClient>),
    /// The user's are all dead.
    Gone(ClientError),
    /// None of the user's; `passed_over` names what was not used and why (empty: nothing).
    None { passed_over: String },
}

/// Looks for a live forward of the user's, newest first. Another user's socket is never
/// connected to; dead ones of the user's are left in place (see below), and when none answers
/// the newest dead one is named: a forward was meant to be there.
fn connect_forwarded() -> Forwarded {
    let Ok(found) = forward::candidates(Path::new(forward::FORWARD_DIR)) else {
        return Forwarded::None {
            passed_over: String::new(),
        };
    };
    let uid = paths::current_uid();
    let mut passed_over = Vec::new();
    let mut dead = Vec::new();
    for candidate in &found {
        if !candidate.is_own(uid) {
            passed_over.push(format!(
                "{} (it belongs to {} with mode {:o}, and you are {})",
                candidate.path.display(),
                paths::describe_uid(candidate.owner),
                candidate.mode,
                paths::describe_uid(uid)
            ));
            continue;
        }
        match connect_and_check(&candidate.path) {
            Ok(mut client) => {
                client.forwarded = true;
                client.config_file = None;
                // Dead forwards of earlier connections are left where they are: in the sticky
                // /tmp their names stay the user's, while a removed one could be bound by
                // anyone, and a chained `sso-agent ssh` still forwards to it by name.
                return Forwarded::Live(Box::new(client));
            }
            Err(Connect::Absent) => dead.push(candidate),
            Err(Connect::Failed(err)) => passed_over.push(err.to_string()),
        }
    }
    if let Some((newest, older)) = dead.split_first() {
        let others = match older.len() {
            0 => String::new(),
            1 => " (nor does 1 older forward)".to_string(),
            n => format!(" (nor do {n} older forwards)"),
        };
        return Forwarded::Gone(ClientError::ForwardGone {
            socket: newest.path.display().to_string(),
            others,
        });
    }
    Forwarded::None {
        passed_over: passed_over.join("; "),
    }
}

/// Whether a version refusal comes from an agent older than this client: only then is it this
/// client's to replace. A newer agent is left alone, so two installed versions never take turns
/// killing each other's agent.
fn agent_is_older(message: &str) -> bool {
    let speaks = message
        .strip_prefix("the agent speaks protocol ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|version| version.parse::<u32>().ok());
    speaks.is_some_and(|version| version < PROTOCOL_VERSION)
}

fn io_error(socket: &Path, err: io::Error) -> ClientError {
    let detail = match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => "no answer in time".to_string(),
        io::ErrorKind::PermissionDenied => format!("{err}: the socket belongs to another user"),
        _ => err.to_string(),
    };
    ClientError::Io {
        socket: socket.display().to_string(),
        detail,
    }
}

/// `"{prefix} {log}"` when the log exists and has something in it; nothing otherwise.
fn log_hint(log: &Path, prefix: &str) -> String {
    match std::fs::symlink_metadata(log) {
        Ok(metadata) if metadata.is_file() && metadata.len() > 0 => {
            format!("{prefix} {}", log.display())
        }
        _ => String::new(),
    }
}

/// Opens a file beside the socket for writing, never through a symlink, 0600.
fn open_private(path: &Path, append: bool) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

fn read_marker(socket: &Path) -> Option<u32> {
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(paths::autostart_marker(socket))
        .ok()?;
    let mut text = String::new();
    io::Read::read_to_string(&mut file, &mut text).ok()?;
    text.trim().parse().ok()
}

/// Starts `sso-agent daemon` detached (its own session, in `/`) and waits until it answers. A
/// lock beside the socket makes concurrent callers start one agent, not one each.
fn start_agent(socket: &Path) -> Result<AgentClient, ClientError> {
    let socket = &std::path::absolute(socket).unwrap_or_else(|_| socket.to_path_buf());
    let log = paths::log_path(socket);
    let failed = |detail: String| ClientError::StartFailed {
        detail,
        log: log_hint(&log, "; see"),
    };
    let dir = socket.parent().unwrap_or(Path::new("/"));
    match paths::ensure_private_dir(dir) {
        Ok(()) => {}
        Err(err @ PathError::Create { .. }) => return Err(failed(err.to_string())),
        Err(err) => {
            return Err(ClientError::Untrusted {
                socket: socket.display().to_string(),
                reason: err.to_string(),
            })
        }
    }
    let lock = open_private(&dir.join("autostart.lock"), false)
        .map_err(|err| failed(format!("cannot open {}: {err}", dir.display())))?;
    lock.lock().map_err(|err| failed(err.to_string()))?;
    // Another caller may have started it while this one waited for the lock.
    match open_checked(socket) {
        Ok(client) => return Ok(client),
        Err(Connect::Failed(err)) => return Err(err),
        Err(Connect::Absent) => {}
    }
    let exe = agent_executable().map_err(failed)?;
    let log_file =
        open_private(&log, true).map_err(|err| failed(format!("cannot open the log: {err}")))?;
    let mut command = Command::new(&exe);
    command
        .arg("daemon")
        .env("SSO_AGENT_SOCKET", socket)
        // The daemon runs in `/`: a relative config path must still name the same file.
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(
            log_file
                .try_clone()
                .map_err(|err| failed(err.to_string()))?,
        )
        .stderr(log_file);
    if let Some(config) = std::env::var_os("AWS_CONFIG_FILE").filter(|path| !path.is_empty()) {
        if let Ok(absolute) = std::path::absolute(PathBuf::from(config)) {
            command.env("AWS_CONFIG_FILE", absolute);
        }
    }
    // SAFETY: setsid is async-signal-safe and touches no memory of this process. A session of
    // its own: no controlling terminal, and a hang-up or Ctrl-C of this shell does not reach it.
    unsafe {
        command.pre_exec(|| rustix::process::setsid().map(drop).map_err(io::Error::from));
    }
    let mut child = command
        .spawn()
        .map_err(|err| failed(format!("cannot run {}: {err}", exe.display())))?;
    if let Ok(mut marker) = open_private(&paths::autostart_marker(socket), false) {
        let _ = writeln!(marker, "{}", child.id());
    }
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        match open_checked(socket) {
            Ok(client) => return Ok(client),
            Err(Connect::Failed(err)) => return Err(err),
            Err(Connect::Absent) => {}
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(failed(format!(
                "{} exited with {status}: {}",
                exe.display(),
                last_line(&log)
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(failed(format!(
        "{} did not answer within {} s",
        exe.display(),
        START_TIMEOUT.as_secs()
    )))
}

/// `sso-agent`: this program; else the one beside this one (`sso-agent-credential-process` is
/// installed with it); else the first on PATH. The error names every place looked at.
fn agent_executable() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|err| format!("cannot find this program: {err}"))?;
    if exe.file_name().is_some_and(|name| name == "sso-agent") {
        return Ok(exe);
    }
    let beside = exe.with_file_name("sso-agent");
    if beside.is_file() {
        return Ok(beside);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("sso-agent"))
        .find(|candidate| candidate.is_file());
    on_path.ok_or_else(|| {
        format!(
            "there is no {} and no `sso-agent` on PATH; install both programs together (`cargo install --locked` from the source tree puts them on PATH), or, on a remote host, connect with `sso-agent ssh HOST` from the machine that runs the agent",
            beside.display()
        )
    })
}

fn last_line(path: &Path) -> String {
    File::open(path)
        .ok()
        .and_then(|file| {
            io::BufReader::new(file)
                .lines()
                .map_while(Result::ok)
                .last()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_older_agent_is_replaced() {
        let refusal = |agent: u32| {
            format!("the agent speaks protocol {agent} and the request protocol {PROTOCOL_VERSION}; restart the agent so both are the same version")
        };
        assert!(agent_is_older(&refusal(PROTOCOL_VERSION - 1)));
        assert!(!agent_is_older(&refusal(PROTOCOL_VERSION + 1)));
        assert!(!agent_is_older("restart the agent"));
    }
    use std::os::unix::fs::PermissionsExt;

    /// The agent refuses another user's connection with an answer and closes it at once; a
    /// client that writes after the close still reads the refusal, not "broken pipe".
    #[test]
    fn an_answer_sent_before_the_agent_closed_is_read_even_if_the_write_fails() {
        let dir = std::env::temp_dir().join(format!("sso-agent-client-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let socket = dir.join("agent.sock");
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let agent = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let refusal = Response::Error {
                kind: ErrorKind::Forbidden,
                message: "this agent serves uid 0 only".into(),
            };
            stream.write_all(&protocol::encode(&refusal)).unwrap();
        });
        let mut client = AgentClient::connect_to(&socket).unwrap();
        agent.join().unwrap(); // answered and closed before the request is written
        let answer = client.request(Request::Status, Duration::from_secs(5));
        std::fs::remove_dir_all(&dir).unwrap();
        match answer {
            Err(ClientError::Agent { kind, message }) => {
                assert_eq!(kind, ErrorKind::Forbidden);
                assert!(message.contains("serves uid 0 only"));
            }
            other => panic!("expected the refusal, got {other:?}"),
        }
    }
}
