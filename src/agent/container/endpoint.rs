//! The container-credentials protocol over HTTP/1.1 on loopback TCP, as the SDKs' ECS/container
//! providers speak it: `GET <AWS_CONTAINER_CREDENTIALS_FULL_URI>` with the grant's token as
//! `Authorization`, answered with `AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration` and
//! `AccountId`. Each profile has its own path, `/profile/<name>`. hyper does the HTTP (a
//! well-kept parser, already linked for the SDK's client); this module only routes and refuses.

use super::grants::Refusal;
use crate::agent::lifecycle::Want;
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
/// A request's head must arrive within this: the SDKs send theirs at once, and a client that
/// trickles bytes should not hold one of the connection slots for long. hyper also applies it
/// to an idle kept-alive connection waiting for its next request, which the SDKs' pools handle
/// by reconnecting.
const HEAD_TIMEOUT: Duration = Duration::from_secs(3);
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
                async move {
                    let response = match refuse_foreign(&request) {
                        Some(refused) => refused,
                        None => answer(&agent, request).await,
                    };
                    Ok::<_, std::convert::Infallible>(response)
                }
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

/// Refuses what only a web page would send: a `Host` that is not this endpoint's (a DNS-rebinding
/// page reaches 127.0.0.1 under its own name) or an `Origin` (browsers add it to cross-origin
/// requests; the SDKs never do). Bearer tokens already keep such a page out; this keeps it from
/// even trying. Only the host name is compared: clients leave out a default port (`:80` with
/// `SSO_AGENT_ECS_LISTEN=127.0.0.1:80`), and the name is what rebinding changes.
fn refuse_foreign(request: &Request<Incoming>) -> Option<Response<Full<Bytes>>> {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .map(host_name);
    if !matches!(host, Some(name) if name == "127.0.0.1" || name.eq_ignore_ascii_case("localhost"))
    {
        return Some(refusal(
            StatusCode::MISDIRECTED_REQUEST,
            "MisdirectedRequest",
            "this endpoint answers requests for 127.0.0.1 only: use the URL `sso-agent ecs-env` prints",
        ));
    }
    if request.headers().contains_key(header::ORIGIN) {
        return Some(refusal(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "requests from web pages are refused",
        ));
    }
    None
}

/// `127.0.0.1` of `127.0.0.1:8080`; a bracketed IPv6 literal keeps its brackets.
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
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
    if let Some(refused) = refuse_grant(agent, &profile, presented) {
        return refused;
    }
    let account_id = match agent.config.served_role(&profile).await {
        Ok(role) => role.account_id().to_string(),
        Err(err) => return refusal(StatusCode::NOT_FOUND, "ProfileNotFound", &err.to_string()),
    };
    // Never a login from here: nobody watches these callers, and a grant may be ending with a
    // logout of this very session (a refresh is fine).
    let reply = credentials::handle_wanting(agent, &profile, false, Want::TokenWithoutLogin).await;
    // Checked again: a revocation or logout while the credentials were fetched wins.
    if let Some(refused) = refuse_grant(agent, &profile, presented) {
        return refused;
    }
    match reply {
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
        Reply::Message(AgentResponse::LoginPending(pending)) => refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "LoginNeeded",
            &crate::credential_process::login_prompt(&pending),
        ),
        Reply::Message(AgentResponse::Error { kind, message }) => {
            let (status, code, message) = match kind {
                ErrorKind::Config => (StatusCode::NOT_FOUND, "ProfileNotFound", message),
                ErrorKind::Login => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "LoginNeeded",
                    format!("{message}: run `sso-agent login --profile {profile}`, then retry"),
                ),
                _ => (StatusCode::BAD_GATEWAY, "Upstream", message),
            };
            refusal(status, code, &message)
        }
        Reply::Message(other) => refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal",
            &format!("unexpected answer {}", other.kind()),
        ),
    }
}

/// The refusal for a request the grants do not let through, if it is one.
fn refuse_grant(
    agent: &Agent,
    profile: &str,
    presented: Option<&[u8]>,
) -> Option<Response<Full<Bytes>>> {
    match agent.container.grants.check(profile, presented) {
        Ok(()) => None,
        Err(Refusal::Missing) => Some(refusal(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "no Authorization header: set AWS_CONTAINER_AUTHORIZATION_TOKEN as `sso-agent ecs-env` prints it",
        )),
        Err(Refusal::Wrong) => {
            // Debug-escaped and cut short: the name is whatever the request said.
            let asked: String = profile.chars().take(128).collect();
            tracing::warn!(profile = ?asked, "container endpoint: refused a request with a wrong or ended grant");
            Some(refusal(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "this token grants no access to this profile (it may have ended): get a new one with `sso-agent ecs-env`, or run the `sso-agent exec --ecs` command again",
            ))
        }
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
    fn the_host_name_is_the_host_without_its_port() {
        assert_eq!(host_name("127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(host_name("127.0.0.1"), "127.0.0.1");
        assert_eq!(host_name("LOCALHOST:1"), "LOCALHOST");
        assert_eq!(host_name("[::1]:80"), "[::1]");
        assert_eq!(host_name("[::1]"), "[::1]");
        assert_eq!(host_name("evil.example:80"), "evil.example");
        assert_eq!(host_name("127.0.0.1:x"), "127.0.0.1:x");
    }

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
