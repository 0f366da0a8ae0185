//! The container-credentials protocol over HTTP/1.1 on loopback TCP, as the SDKs' ECS/container
//! providers speak it: `GET <AWS_CONTAINER_CREDENTIALS_FULL_URI>` with the grant's token as
//! `Authorization`, answered with `AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration` and
//! `AccountId`. Each profile has its own path, `/profile/<name>`. hyper does the HTTP (a
//! well-kept parser, already linked for the SDK's client); this module only routes and refuses.

use super::grants::Refusal;
use crate::agent::{credentials, Agent, Reply};
use crate::protocol::{ErrorKind, Response as AgentResponse};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{header, Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 256;
/// A request's head must arrive within this.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// No connection is kept longer than this, however busy (SDK pools reconnect).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);
/// hyper's smallest read buffer: a request head larger than this is refused.
const MAX_HEAD: usize = 8192;
pub const PATH_PREFIX: &str = "/profile/";

pub async fn serve(listener: TcpListener, agent: Arc<Agent>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut stop = agent.stopping();
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = crate::agent::stopped(&mut stop) => return,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!("container endpoint: accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = crate::agent::stopped(&mut stop) => return,
        };
        let agent = agent.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |request| {
                let agent = agent.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(&agent, request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_buf_size(MAX_HEAD)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
        });
    }
}

async fn answer(agent: &Arc<Agent>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET {
        return refusal(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "only GET is served",
        );
    }
    let Some(profile) = profile_of(request.uri().path()) else {
        return refusal(
            StatusCode::NOT_FOUND,
            "NotFound",
            "ask /profile/<name>, the URL `sso-agent ecs-env` prints",
        );
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|value| value.as_bytes());
    match agent.container.grants.check(&profile, presented) {
        Ok(()) => {}
        Err(Refusal::Missing) => {
            return refusal(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "no Authorization header: set AWS_CONTAINER_AUTHORIZATION_TOKEN as `sso-agent ecs-env` prints it",
            )
        }
        Err(Refusal::Wrong) => {
            tracing::warn!(%profile, "container endpoint: refused a request with a wrong or ended grant");
            return refusal(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "this token grants no access to this profile (it may have ended); get a new one with `sso-agent ecs-env`",
            );
        }
    }
    let account_id = match agent.config.served_role(&profile).await {
        Ok(role) => role.account_id.clone(),
        Err(err) => return refusal(StatusCode::NOT_FOUND, "ProfileNotFound", &err.to_string()),
    };
    match credentials::handle(agent, &profile, false).await {
        Reply::Encoded(cached) => match cached.container_body(&account_id) {
            Some(body) => Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body.to_vec())))
                .expect("a fixed status and header make a valid response"),
            None => refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal",
                "the cached credentials could not be read; restart the agent",
            ),
        },
        Reply::Message(message) => match *message {
            AgentResponse::LoginPending(pending) => refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "LoginNeeded",
                &crate::credential_process::login_prompt(&pending),
            ),
            AgentResponse::Error { kind, message } => {
                let (status, code) = match kind {
                    ErrorKind::Config => (StatusCode::NOT_FOUND, "ProfileNotFound"),
                    ErrorKind::Login => (StatusCode::SERVICE_UNAVAILABLE, "LoginNeeded"),
                    _ => (StatusCode::BAD_GATEWAY, "Upstream"),
                };
                refusal(status, code, &message)
            }
            other => refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal",
                &format!("unexpected answer {}", other.kind()),
            ),
        },
    }
}

/// The profile a path names: `/profile/<percent-encoded name>`, nothing after it.
fn profile_of(path: &str) -> Option<String> {
    let encoded = path.strip_prefix(PATH_PREFIX)?;
    if encoded.is_empty() || encoded.contains('/') {
        return None;
    }
    let name = percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .ok()?;
    Some(name.into_owned())
}

/// The path of `profile`'s credentials.
pub fn path_of(profile: &str) -> String {
    let encoded =
        percent_encoding::utf8_percent_encode(profile, percent_encoding::NON_ALPHANUMERIC);
    format!("{PATH_PREFIX}{encoded}")
}

/// An error as the SDKs' container providers read one: a status and a JSON `code`/`message`.
fn refusal(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "code": code, "message": message }).to_string();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a fixed status and header make a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_path_round_trips_any_name() {
        for name in ["dev", "corp/Admin", "a b", "ünï", "x%2Fy"] {
            assert_eq!(profile_of(&path_of(name)).as_deref(), Some(name));
        }
        assert_eq!(profile_of("/profile/"), None);
        assert_eq!(profile_of("/profile/a/b"), None);
        assert_eq!(profile_of("/other/a"), None);
    }
}
