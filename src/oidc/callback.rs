//! The loopback listener the browser is redirected to at the end of an authorization-code
//! login: `http://127.0.0.1:PORT/oauth/callback?code=…&state=…` (or `?error=…`).
//!
//! 127.0.0.1 only, never all interfaces. Every local user can reach a loopback port, so a
//! connection whose socket is not this user's (the kernel's TCP tables, `loopback_peer`) is
//! closed before a byte of it is read. Each connection has a head-read timeout and a head-size
//! cap and carries one request; any path but `/oauth/callback` is answered 404 and the login
//! goes on (a browser asks for `/favicon.ico`).

use super::pkce::CALLBACK_PATH;
use crate::secret::Secret;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{header, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};

/// A browser sends its request head at once; a connection silent this long is dropped.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// hyper's smallest read buffer, and the cap on a request head: a callback URL is far shorter.
pub const MAX_HEAD: usize = 8 * 1024;
/// Connections served at once; more are closed at accept.
const MAX_CONNECTIONS: usize = 16;

/// What the browser brought back.
#[derive(Debug)]
pub enum Callback {
    /// The authorization code, with the state that matched.
    Code(Secret),
    /// `error=` (access_denied, …) with the state that matched.
    Error {
        error: String,
        description: Option<String>,
    },
    /// The state was absent or not this login's: nothing of the request is used.
    StateMismatch { missing: bool },
}

pub struct CallbackListener {
    listener: TcpListener,
    port: u16,
}

impl CallbackListener {
    /// Listens on 127.0.0.1:`port`, or an ephemeral port for `None`.
    pub async fn bind(port: Option<u16>) -> std::io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port.unwrap_or(0))).await?;
        let port = listener.local_addr()?.port();
        Ok(Self { listener, port })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until a request on `/oauth/callback` of this user's arrives, and returns what it
    /// carried. Dropping the future stops listening. `refused` counts connections of others.
    pub async fn wait(
        self,
        expected_state: &str,
        refused: &std::sync::atomic::AtomicUsize,
    ) -> Callback {
        let (outcomes, mut received) = mpsc::channel::<Callback>(1);
        let expected = Arc::new(expected_state.to_string());
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            tokio::select! {
                Some(callback) = received.recv() => return callback,
                accepted = self.listener.accept() => {
                    let Ok((stream, peer)) = accepted else { continue };
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        tracing::warn!("too many connections to the login's callback; one was closed");
                        continue;
                    };
                    // The kernel's tables are read off the runtime's threads (they can be large).
                    let port = self.port;
                    let ours = tokio::task::spawn_blocking(move || {
                        crate::loopback_peer::same_user(peer, port)
                    })
                    .await
                    .unwrap_or(false);
                    if !ours {
                        refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        tracing::warn!(%peer, "refused a connection to the login's callback: it is not this user's");
                        drop(stream);
                        continue;
                    }
                    let (outcomes, expected) = (outcomes.clone(), expected.clone());
                    tokio::spawn(async move {
                        serve(stream, peer, &expected, outcomes).await;
                        drop(slot);
                    });
                }
            }
        }
    }
}

async fn serve(
    stream: tokio::net::TcpStream,
    _peer: SocketAddr,
    expected: &str,
    outcomes: mpsc::Sender<Callback>,
) {
    let service = hyper::service::service_fn(|request: Request<hyper::body::Incoming>| {
        let (page, outcome) = answer(&request, expected);
        let outcomes = outcomes.clone();
        async move {
            if let Some(outcome) = outcome {
                let _ = outcomes.try_send(outcome);
            }
            Ok::<_, std::convert::Infallible>(page)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// The page for one request, and the outcome it brings (none for a stray request).
fn answer<B>(request: &Request<B>, expected: &str) -> (Response<Full<Bytes>>, Option<Callback>) {
    if request.uri().path() != CALLBACK_PATH || request.method() != hyper::Method::GET {
        return (
            page(StatusCode::NOT_FOUND, "Not found", "Nothing here."),
            None,
        );
    }
    let query: HashMap<String, String> = request
        .uri()
        .query()
        .map(|query| {
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let outcome = callback(query, expected);
    let page = match &outcome {
        Callback::Code(_) => page(
            StatusCode::OK,
            "Logged in",
            "sso-agent has your login. You can close this tab.",
        ),
        Callback::Error { .. } => page(
            StatusCode::OK,
            "Login not completed",
            "The login was not approved. You can close this tab; sso-agent says what to do next.",
        ),
        Callback::StateMismatch { .. } => page(
            StatusCode::BAD_REQUEST,
            "Login refused",
            "This answer does not belong to the login sso-agent started, so it was not used. Close this tab and log in again.",
        ),
    };
    (page, Some(outcome))
}

/// What a callback's parameters mean for the login that expects `expected` as its state.
pub fn callback(mut query: HashMap<String, String>, expected: &str) -> Callback {
    match query.get("state") {
        None => return Callback::StateMismatch { missing: true },
        Some(state) if state != expected => return Callback::StateMismatch { missing: false },
        Some(_) => {}
    }
    if let Some(error) = query.remove("error") {
        return Callback::Error {
            error,
            description: query.remove("error_description"),
        };
    }
    match query.remove("code").filter(|code| !code.is_empty()) {
        Some(code) => Callback::Code(Secret::new(code)),
        None => Callback::Error {
            error: "invalid_request".into(),
            description: Some("the callback had neither a code nor an error".into()),
        },
    }
}

fn page(status: StatusCode, title: &str, text: &str) -> Response<Full<Bytes>> {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto\">\
         <h1>{title}</h1><p id=\"result\">{text}</p></body></html>"
    );
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .header("referrer-policy", "no-referrer")
        .body(Full::new(Bytes::from(body)))
        .expect("a fixed status and headers make a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::sync::atomic::AtomicUsize;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_state_is_checked_before_anything_else_is_used() {
        assert!(matches!(
            callback(query(&[("code", "c")]), "s1"),
            Callback::StateMismatch { missing: true }
        ));
        assert!(matches!(
            callback(query(&[("code", "c"), ("state", "s2")]), "s1"),
            Callback::StateMismatch { missing: false }
        ));
        assert!(matches!(
            callback(query(&[("error", "access_denied"), ("state", "s2")]), "s1"),
            Callback::StateMismatch { missing: false }
        ));
        assert!(matches!(
            callback(query(&[("code", "c"), ("state", "s1")]), "s1"),
            Callback::Code(code) if code.expose() == "c"
        ));
        assert!(matches!(
            callback(query(&[("error", "access_denied"), ("state", "s1")]), "s1"),
            Callback::Error { error, .. } if error == "access_denied"
        ));
    }

    /// One blocking HTTP/1.1 request; the status code.
    fn get(port: u16, target: &str) -> std::io::Result<u16> {
        let mut stream = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            stream,
            "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0))
    }

    #[tokio::test]
    async fn stray_requests_do_not_end_the_wait_and_an_oversize_head_is_refused() {
        let listener = CallbackListener::bind(None).await.unwrap();
        let port = listener.port();
        let refused = AtomicUsize::new(0);
        let client = tokio::task::spawn_blocking(move || {
            let favicon = get(port, "/favicon.ico").unwrap();
            let huge = get(
                port,
                &format!("/oauth/callback?x={}", "a".repeat(MAX_HEAD * 2)),
            )
            .unwrap_or(0);
            let done = get(port, "/oauth/callback?code=the-code&state=st").unwrap();
            (favicon, huge, done)
        });
        let outcome = listener.wait("st", &refused).await;
        assert!(matches!(outcome, Callback::Code(code) if code.expose() == "the-code"));
        let (favicon, huge, done) = client.await.unwrap();
        assert_eq!(favicon, 404);
        assert_ne!(huge, 200, "an oversize head is not served");
        assert_eq!(done, 200);
        assert_eq!(refused.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_port_in_use_cannot_be_bound() {
        let taken = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = taken.local_addr().unwrap().port();
        let err = CallbackListener::bind(Some(port)).await.err().unwrap();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    }
}
