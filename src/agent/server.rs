//! The socket side: accept, check the peer's uid, bound the connections, read frames with a
//! limit and a timeout, answer, and shut down gracefully.

use super::{Agent, Reply};
use crate::protocol::{self, decode_request, ErrorKind, FrameError, Response};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// Connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 1024;
/// How long a connection may take to send a request before it is closed
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

/// Serves until `shutdown` completes, then stops accepting and drains the connections.
pub async fn serve(listener: UnixListener, agent: Arc<Agent>, shutdown: impl Future<Output = ()>) {
    let uid = crate::paths::current_uid();
    let timeout = read_timeout();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (stop_connections, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
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
        while connections.try_join_next().is_some() {}
        let (agent, stopping) = (agent.clone(), stopping.clone());
        connections.spawn(async move {
            let _permit = permit;
            serve_connection(stream, agent, uid, timeout, stopping).await;
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

/// A request (header and payload) usually fits this, so one `recv` reads it whole.
const READ_BUFFER: usize = 512;

async fn serve_connection(
    stream: UnixStream,
    agent: Arc<Agent>,
    uid: u32,
    timeout: Duration,
    mut stopping: watch::Receiver<bool>,
) {
    match stream.peer_cred() {
        Ok(peer) if peer.uid() == uid => {}
        Ok(peer) => {
            tracing::warn!(peer_uid = peer.uid(), peer_pid = ?peer.pid(), "refused a connection from another user");
            let refusal = Response::Error {
                kind: ErrorKind::Forbidden,
                message: format!("this agent serves uid {uid} only"),
            };
            let mut stream = stream;
            let _ = stream.write_all(&protocol::encode(&refusal)).await;
            return;
        }
        Err(err) => {
            tracing::warn!("cannot check a connection's peer: {err}");
            return;
        }
    }
    let mut stream = BufReader::with_capacity(READ_BUFFER, stream);
    loop {
        let payload = tokio::select! {
            read = tokio::time::timeout(timeout, read_frame(&mut stream)) => match read {
                Ok(Ok(payload)) => payload,
                Ok(Err(FrameError::Closed)) => return,
                Ok(Err(err)) => {
                    // An oversize or broken frame: say why, then drop the connection.
                    let _ = write_reply(&mut stream, error_reply(err.to_string())).await;
                    return;
                }
                Err(_) => return, // silent for too long
            },
            () = super::stopped(&mut stopping) => return,
        };
        let reply = match decode_request(&payload) {
            Ok(request) => agent.handle(request).await,
            Err(message) => error_reply(message),
        };
        if write_reply(&mut stream, reply).await.is_err() {
            return;
        }
    }
}

fn error_reply(message: String) -> Reply {
    Reply::Message(Response::Error {
        kind: ErrorKind::BadRequest,
        message,
    })
}

async fn read_frame(stream: &mut BufReader<UnixStream>) -> Result<Vec<u8>, FrameError> {
    let mut header = [0u8; 4];
    match stream.read_exact(&mut header).await {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(FrameError::Closed)
        }
        Err(err) => return Err(err.into()),
    }
    let mut payload = vec![0u8; protocol::payload_len(header)?];
    stream.read_exact(&mut payload).await?;
    Ok(payload)
}

async fn write_reply(stream: &mut BufReader<UnixStream>, reply: Reply) -> std::io::Result<()> {
    match reply {
        Reply::Encoded(cached) => stream.write_all(&cached.frame).await,
        Reply::Message(response) => {
            let frame = zeroize::Zeroizing::new(protocol::encode(&response));
            stream.write_all(&frame).await
        }
    }
}
