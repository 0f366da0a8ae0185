//! The blocking client every CLI command uses: std Unix socket, no async runtime, so
//! `credential-process` starts and answers in well under a millisecond. When no agent answers it
//! starts one (at most one, under a lock) unless `SSO_AGENT_NO_AUTOSTART=1`.

use crate::paths;
use crate::protocol::{self, Envelope, ErrorKind, FrameError, Request, Response, PROTOCOL_VERSION};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead};
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

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the agent is not running on {socket} (SSO_AGENT_NO_AUTOSTART is set): start it with `sso-agent daemon` or its service; its log is {log}")]
    NotRunning { socket: String, log: String },
    #[error("the agent could not be started ({detail}); see {log}")]
    StartFailed { detail: String, log: String },
    #[error("talking to the agent on {socket}: {detail}")]
    Io { socket: String, detail: String },
    #[error("{message}")]
    Agent { kind: ErrorKind, message: String },
}

pub struct AgentClient {
    stream: UnixStream,
    socket: PathBuf,
}

impl AgentClient {
    /// Connects to the agent on the usual socket, starting it if needed and allowed.
    pub fn connect() -> Result<Self, ClientError> {
        Self::connect_to(&paths::socket_path())
    }

    pub fn connect_to(socket: &Path) -> Result<Self, ClientError> {
        let stream = match UnixStream::connect(socket) {
            Ok(stream) => stream,
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                ) =>
            {
                if std::env::var("SSO_AGENT_NO_AUTOSTART").as_deref() == Ok("1") {
                    return Err(ClientError::NotRunning {
                        socket: socket.display().to_string(),
                        log: paths::log_path(socket).display().to_string(),
                    });
                }
                start_agent(socket)?
            }
            Err(err) => return Err(io_error(socket, err)),
        };
        Ok(Self {
            stream,
            socket: socket.to_path_buf(),
        })
    }

    /// Sends one request and reads its answer; an error answer becomes `ClientError::Agent`.
    pub fn request(
        &mut self,
        request: Request,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let io = |err| io_error(&self.socket, err);
        self.stream.set_read_timeout(Some(timeout)).map_err(io)?;
        self.stream
            .set_write_timeout(Some(REQUEST_TIMEOUT))
            .map_err(io)?;
        let frame = protocol::encode(&Envelope {
            version: PROTOCOL_VERSION,
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
                    "unreadable answer ({err}); restart the agent if it is an older version"
                )),
            )),
        }
    }
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

/// Starts `sso-agent daemon` in the background and waits until it answers. A lock beside the
/// socket makes concurrent callers start one agent, not one each.
fn start_agent(socket: &Path) -> Result<UnixStream, ClientError> {
    let log = paths::log_path(socket);
    let failed = |detail: String| ClientError::StartFailed {
        detail,
        log: log.display().to_string(),
    };
    let dir = socket.parent().unwrap_or(Path::new("/"));
    paths::ensure_private_dir(dir).map_err(|err| failed(err.to_string()))?;
    let lock = File::create(dir.join("autostart.lock")).map_err(|err| failed(err.to_string()))?;
    lock.lock().map_err(|err| failed(err.to_string()))?;
    // Another caller may have started it while this one waited for the lock.
    if let Ok(stream) = UnixStream::connect(socket) {
        return Ok(stream);
    }
    let log_file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log)
        .map_err(|err| failed(format!("cannot open the log: {err}")))?;
    let exe = agent_executable().map_err(|err| failed(err.to_string()))?;
    let mut child = Command::new(exe)
        .arg("daemon")
        .env("SSO_AGENT_SOCKET", socket)
        .stdin(Stdio::null())
        .stdout(
            log_file
                .try_clone()
                .map_err(|err| failed(err.to_string()))?,
        )
        .stderr(log_file)
        // Its own process group: a Ctrl-C meant for this command does not stop the agent.
        .process_group(0)
        .spawn()
        .map_err(|err| failed(err.to_string()))?;
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(stream) = UnixStream::connect(socket) {
            return Ok(stream);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(failed(format!(
                "it exited with {status}: {}",
                last_line(&log)
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(failed(format!(
        "it did not answer within {} s",
        START_TIMEOUT.as_secs()
    )))
}

/// `sso-agent`: this program, or the one beside it when this is `sso-agent-credential-process`.
fn agent_executable() -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    if exe.file_name().is_some_and(|name| name == "sso-agent") {
        return Ok(exe);
    }
    Ok(exe.with_file_name("sso-agent"))
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
    use std::io::Write;

    /// The agent refuses another user's connection with an answer and closes it at once; a
    /// client that writes after the close still reads the refusal, not "broken pipe".
    #[test]
    fn an_answer_sent_before_the_agent_closed_is_read_even_if_the_write_fails() {
        let dir = std::env::temp_dir().join(format!("sso-agent-client-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
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
