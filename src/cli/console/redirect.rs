//! Opens the sign-in link without putting it on a command line. A browser started with a URL
//! carries it in its argv (`ps`, `/proc/PID/cmdline`), which every local user can read, and the
//! sign-in token in the link lets anyone into the console for 15 minutes. So the browser is
//! given a one-use loopback URL instead: it answers the first request of this user with a 303 to
//! the link, then stops listening.
//!
//! The loopback URL is on the command line in turn. On Linux a request from another user is
//! refused (the kernel's socket table names the uid of each connection's other end); elsewhere
//! the URL's single use is what is left, and a browser that finds it used shows an error rather
//! than someone else's console.

use anyhow::{bail, Context, Result};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{header, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use zeroize::Zeroizing;

/// A browser that is already running opens the page within a second or two; a cold start of a
/// large one can take several more.
pub const BROWSER_WAIT: Duration = Duration::from_secs(120);
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `link` once to this user's browser, started by `open` on the loopback URL. Returns
/// once the browser has been redirected, or fails after `wait`.
pub async fn open_once(
    link: &str,
    wait: Duration,
    open: impl FnOnce(&str) -> Result<()> + Send + 'static,
) -> Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .context("cannot listen on 127.0.0.1 to hand the link to the browser")?;
    let port = listener.local_addr()?.port();
    let path = format!("/{}", nonce()?);
    let url = format!("http://127.0.0.1:{port}{path}");
    let shared = Arc::new(Shared {
        link: Zeroizing::new(link.to_string()),
        path,
        port,
        served: AtomicBool::new(false),
        refused: AtomicUsize::new(0),
        done: Notify::new(),
    });
    // Listening already, and on its own thread: a text browser (lynx, w3m) runs in the
    // foreground until it exits, asking this very listener meanwhile.
    let mut opening = tokio::task::spawn_blocking(move || open(&url));
    let mut opened = false;
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                tokio::spawn(serve(shared.clone(), stream, peer));
            }
            result = &mut opening, if !opened => {
                opened = true;
                result.context("the browser's launcher panicked")??;
            }
            () = shared.done.notified() => return Ok(()),
            () = &mut deadline => {
                let refused = shared.refused.load(Ordering::SeqCst);
                if refused > 0 {
                    bail!("the link was asked for {refused} time(s) by a connection that is not yours (another user, or a relay this check cannot see through)");
                }
                bail!("the browser did not open the link within {} s", wait.as_secs());
            }
        }
    }
}

/// One connection: its requests are answered, and the redirect, once written, ends the wait.
async fn serve(shared: Arc<Shared>, stream: tokio::net::TcpStream, peer: SocketAddr) {
    let redirected = AtomicBool::new(false);
    let service = hyper::service::service_fn(|request| {
        let answer = shared.answer(&request, peer, &redirected);
        async move { Ok::<_, std::convert::Infallible>(answer) }
    });
    let written = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if redirected.load(Ordering::SeqCst) {
        match written {
            Ok(()) => shared.done.notify_one(),
            // Not delivered: the next request may have it.
            Err(_) => shared.served.store(false, Ordering::SeqCst),
        }
    }
}

struct Shared {
    link: Zeroizing<String>,
    path: String,
    port: u16,
    served: AtomicBool,
    /// Requests for the right path from a connection that is not this user's.
    refused: AtomicUsize,
    done: Notify,
}

impl Shared {
    fn answer(
        &self,
        request: &Request<Incoming>,
        peer: SocketAddr,
        redirected: &AtomicBool,
    ) -> Response<Full<Bytes>> {
        if request.uri().path() != self.path {
            return page(StatusCode::NOT_FOUND, "Not found.");
        }
        if !sso_agent::loopback_peer::same_user(peer, self.port) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return page(
                StatusCode::FORBIDDEN,
                "This link is for the user who ran sso-agent console.",
            );
        }
        if self.served.swap(true, Ordering::SeqCst) {
            return page(
                StatusCode::GONE,
                "This link was used already. Run sso-agent console again.",
            );
        }
        redirected.store(true, Ordering::SeqCst);
        Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header(header::LOCATION, self.link.as_str())
            .header(header::CACHE_CONTROL, "no-store")
            .header("referrer-policy", "no-referrer")
            .body(Full::new(Bytes::new()))
            .expect("a fixed status and headers make a valid response")
    }
}

fn page(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(text.to_string())))
        .expect("a fixed status and header make a valid response")
}

fn nonce() -> Result<String> {
    let mut bytes = [0u8; 16];
    // getrandom's error is a std error only with its `std` feature, which a build without the
    // emulator does not pull in: say it with Display.
    getrandom::fill(&mut bytes)
        .map_err(|err| anyhow::anyhow!("the system's random source failed: {err}"))?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A blocking GET as a text browser makes it: status and Location.
    fn fetch(url: &str) -> std::io::Result<(u16, Option<String>)> {
        let url = url::Url::parse(url).unwrap();
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", url.port().unwrap()))?;
        // A listener that never answers fails the test rather than hanging it.
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let head = format!(
            "GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            url.path()
        );
        stream.write_all(head.as_bytes())?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        let status = answer[9..12].parse().unwrap();
        let location = answer
            .lines()
            .find_map(|line| line.strip_prefix("location: "))
            .map(str::to_string);
        Ok((status, location))
    }

    /// The opener here is a browser that runs in the foreground until it has the page, as lynx
    /// does under webbrowser: it asks a wrong path, then the right one, and is redirected once.
    #[tokio::test]
    async fn a_foreground_browser_is_redirected_once_and_the_link_is_gone_after() {
        let link = "https://signin.example/federation?SigninToken=x";
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        open_once(link, Duration::from_secs(20), move |url| {
            assert!(!url.contains("SigninToken"), "{url}");
            let wrong = url.rsplit_once('/').unwrap().0.to_string() + "/favicon.ico";
            record
                .lock()
                .unwrap()
                .push((url.to_string(), fetch(&wrong)?));
            record.lock().unwrap().push((url.to_string(), fetch(url)?));
            Ok(())
        })
        .await
        .unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen[0].1, (404, None));
        assert_eq!(seen[1].1, (303, Some(link.to_string())));
        // Served, the listener is closed: nobody else gets the link from that URL.
        assert!(fetch(&seen[1].0).is_err());
    }

    #[tokio::test]
    async fn a_browser_that_never_asks_times_out_and_says_so() {
        let err = open_once("https://x.example/", Duration::from_millis(200), |_| Ok(()))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("did not open the link"), "{err}");
        let err = open_once("https://x.example/", Duration::from_secs(5), |_| {
            anyhow::bail!("could not open a browser (NotFound)")
        })
        .await
        .unwrap_err();
        assert!(
            err.to_string().contains("could not open a browser"),
            "{err}"
        );
    }
}
