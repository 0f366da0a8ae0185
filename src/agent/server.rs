//! The socket side: accept, check the peer's uid, bound the connections, read frames with a
//! limit and a timeout, answer, and shut down gracefully.

mod idle;
mod stream;

use super::forward::ForwardGate;
use super::{Agent, Reply};
use crate::protocol::{self, decode_envelope, ErrorKind, FrameError, Request, Response};
use idle::{IdleConnections, IdleHandle};
use std::future::Future;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;
use stream::ReadableStream;
use tokio::io::{AsyncBufRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;

/// Connections served at once; at the cap the longest-idle one is closed for a new one, and
/// when none is idle the new ones wait.
pub const MAX_CONNECTIONS: usize = 1024;
/// How long a connection may take to send a request, or to take its answer, before it is closed
/// (`SSO_AGENT_READ_TIMEOUT_MS` changes it, for tests and slow links).
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

fn read_timeout() -> Duration {
    std::env::var("SSO_AGENT_READ_TIMEOUT_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(READ_TIMEOUT, Duration::from_millis)
}
/// How long shutdown waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves until `shutdown` completes or a client asks the agent to stop, then stops accepting
/// and drains the connections.
pub async fn serve(listener: UnixListener, agent: Arc<Agent>, shutdown: impl Future<Output = ()>) {
    let uid = crate::paths::current_uid();
    let timeout = read_timeout();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let idle = Arc::new(IdleConnections::default());
    let stop_requested = Arc::new(Notify::new());
    let (stop_connections, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let shutdown = {
        let stop_requested = stop_requested.clone();
        async move {
            tokio::select! {
                () = shutdown => {}
                () = stop_requested.notified() => tracing::info!("asked to stop over the socket"),
            }
        }
    };
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!("accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                // At the cap the connection that has said nothing for longest gives way: idle
                // sockets cannot make a real request wait for the read timeout.
                idle.evict_longest_idle();
                tokio::select! {
                    permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                    () = &mut shutdown => break,
                }
            }
        };
        while connections.try_join_next().is_some() {}
        let connection = Connection {
            agent: agent.clone(),
            uid,
            timeout,
            stopping: stopping.clone(),
            idle: IdleConnections::register(&idle),
            stop_requested: stop_requested.clone(),
            gate: None,
        };
        connections.spawn(async move {
            let _permit = permit;
            connection.serve(stream).await;
        });
    }
    tracing::info!(
        "shutting down: finishing {} connection(s)",
        connections.len()
    );
    agent.stop();
    stop_connections.send_replace(true);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("{} connection(s) did not finish in time", connections.len());
        connections.shutdown().await;
    }
}

/// Connections one forward socket serves at once (one remote host's helpers); more are closed.
const FORWARD_CONNECTIONS: usize = 64;

/// Serves one forward socket (`forward_open`) until `until` completes (its ssh exited, or the
/// agent stops); its connections end with it.
pub(super) async fn serve_forward(
    listener: UnixListener,
    agent: Arc<Agent>,
    gate: Arc<ForwardGate>,
    until: impl Future<Output = ()>,
) {
    let uid = crate::paths::current_uid();
    let timeout = read_timeout();
    let slots = Arc::new(Semaphore::new(FORWARD_CONNECTIONS));
    let idle = Arc::new(IdleConnections::default());
    // `stop` is refused over a forward: nothing notifies this.
    let stop_requested = Arc::new(Notify::new());
    let mut connections = JoinSet::new();
    let mut until = std::pin::pin!(until);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!("accept failed on a forward socket: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut until => break,
        };
        while connections.try_join_next().is_some() {}
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            // This one is closed; the longest-idle one makes room for the next.
            idle.evict_longest_idle();
            continue;
        };
        let connection = Connection {
            agent: agent.clone(),
            uid,
            timeout,
            stopping: agent.stopping(),
            idle: IdleConnections::register(&idle),
            stop_requested: stop_requested.clone(),
            gate: Some(gate.clone()),
        };
        connections.spawn(async move {
            let _permit = permit;
            connection.serve(stream).await;
        });
    }
    connections.shutdown().await;
}

/// A request (header and payload) usually fits this, so one `recv` reads it whole.
const READ_BUFFER: usize = 512;

/// One accepted connection and what it needs from the server.
struct Connection {
    agent: Arc<Agent>,
    uid: u32,
    /// For reading a request and for writing its answer.
    timeout: Duration,
    stopping: watch::Receiver<bool>,
    idle: IdleHandle,
    stop_requested: Arc<Notify>,
    /// Set on a forward socket's connections: they come from a remote host.
    gate: Option<Arc<ForwardGate>>,
}

impl Connection {
    async fn serve(self, stream: UnixStream) {
        let caller_pid = match stream.peer_cred() {
            Ok(peer) if peer.uid() == self.uid => {
                peer.pid().and_then(|pid| u32::try_from(pid).ok())
            }
            Ok(peer) => {
                tracing::warn!(peer_uid = peer.uid(), peer_pid = ?peer.pid(), "refused a connection from another user");
                let refusal = Response::Error {
                    kind: ErrorKind::Forbidden,
                    message: format!("this agent serves uid {} only", self.uid),
                };
                let mut stream = stream;
                let _ = tokio::time::timeout(
                    self.timeout,
                    stream.write_all(&protocol::encode(&refusal)),
                )
                .await;
                return;
            }
            Err(err) => {
                tracing::warn!("cannot check a connection's peer: {err}");
                return;
            }
        };
        let stream = match ReadableStream::new(stream) {
            Ok(stream) => stream,
            Err(err) => {
                tracing::warn!("cannot register a connection: {err}");
                return;
            }
        };
        let mut stream = BufReader::with_capacity(READ_BUFFER, stream);
        // Made once for the connection, not for every request: each one registers a waiter
        // (the stop signal, the eviction) or a timer, which cost more than the answer's lookup.
        let mut stopping = self.stopping.clone();
        let mut stopped = std::pin::pin!(super::stopped(&mut stopping));
        let mut evicted = std::pin::pin!(self.idle.evicted());
        // The read deadline: a timer moved only when it fires before the current deadline.
        let mut read_timer = std::pin::pin!(tokio::time::sleep(self.timeout));
        loop {
            let waiting_since = self.idle.set_idle();
            let read = {
                let mut read = std::pin::pin!(read_frame(&mut stream));
                loop {
                    tokio::select! {
                        // A request already sent is answered before a stop closes the connection.
                        biased;
                        read = &mut read => break Some(read),
                        () = &mut read_timer => {
                            let deadline = waiting_since + self.timeout;
                            if std::time::Instant::now() >= deadline {
                                break None; // silent for too long
                            }
                            read_timer.as_mut().reset(deadline.into());
                        }
                        () = &mut stopped => return,
                        () = &mut evicted => return,
                    }
                }
            };
            let payload = match read {
                Some(Ok(payload)) => payload,
                Some(Err(FrameError::Closed)) | None => return,
                Some(Err(err)) => {
                    // An oversize or broken frame: say why, then drop the connection.
                    let _ = self.write(&mut stream, error_reply(err.to_string())).await;
                    return;
                }
            };
            self.idle.set_busy();
            let (reply, stop) = match decode_envelope(&payload) {
                // `stop` and `status` are about the agent, not a file: they work from any shell.
                // Over a forward the caller's config file is a remote path: the agent's own
                // config is the one meant.
                Ok(envelope) => match self.admit(&envelope).await {
                    Err(reply) => (reply, false),
                    Ok(()) if envelope.body == Request::Stop => {
                        (self.agent.handle(Request::Stop).await, true)
                    }
                    Ok(()) => {
                        let caller = super::container::Caller {
                            pid: caller_pid,
                            socket: stream.get_ref().as_fd(),
                        };
                        (
                            self.agent.handle_from(envelope.body, Some(caller)).await,
                            false,
                        )
                    }
                },
                Err(message) => (error_reply(message), false),
            };
            let written = self.write(&mut stream, reply).await;
            if stop {
                // Answered first, so `sso-agent stop` learns which agent it stopped.
                self.stop_requested.notify_one();
            }
            if !written {
                return;
            }
        }
    }

    /// Whether the request is answered here: the config file it names is the one served, and on
    /// a forward socket its gate lets it through.
    async fn admit(&self, envelope: &protocol::Envelope<Request>) -> Result<(), Reply> {
        let Some(gate) = &self.gate else {
            return self
                .agent
                .serves_config(envelope.config_file.as_deref(), &envelope.body)
                .map_err(|reply| *reply);
        };
        gate.admit(&self.agent, &envelope.body).await
    }

    /// Writes an answer within the time limit: a client that never reads does not keep the
    /// connection (and its slot) forever. False when the connection is done.
    async fn write(&self, stream: &mut BufReader<ReadableStream>, reply: Reply) -> bool {
        matches!(
            tokio::time::timeout(self.timeout, write_reply(stream, reply)).await,
            Ok(Ok(()))
        )
    }
}

fn error_reply(message: String) -> Reply {
    Reply::Message(Response::Error {
        kind: ErrorKind::BadRequest,
        message,
    })
}

/// Reads one frame. The payload buffer grows with the bytes that arrive, not with the length
/// the header announces: a header alone must not make the agent allocate 256 KiB.
async fn read_frame(stream: &mut BufReader<ReadableStream>) -> Result<Vec<u8>, FrameError> {
    let mut header = [0u8; 4];
    match stream.read_exact(&mut header).await {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(FrameError::Closed)
        }
        Err(err) => return Err(err.into()),
    }
    let len = protocol::payload_len(header)?;
    if let Some(arrived) = stream.buffer().get(..len) {
        // The whole frame came with its header (a client writes a request at once): one
        // allocation of its size, where `read_to_end` grows a vector from 32 bytes.
        let payload = arrived.to_vec();
        std::pin::Pin::new(&mut *stream).consume(len);
        return Ok(payload);
    }
    let mut payload = Vec::new();
    let read = (&mut *stream)
        .take(len as u64)
        .read_to_end(&mut payload)
        .await?;
    if read < len {
        return Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(payload)
}

async fn write_reply(stream: &mut BufReader<ReadableStream>, reply: Reply) -> std::io::Result<()> {
    match reply {
        Reply::Encoded(cached) => stream.write_all(&cached.frame).await,
        Reply::Message(response) => {
            let frame = zeroize::Zeroizing::new(protocol::encode(&response));
            stream.write_all(&frame).await
        }
    }
}
