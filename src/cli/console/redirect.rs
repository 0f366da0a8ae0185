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
use std::sync::atomic::{AtomicBool, Ordering};
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
    open: impl FnOnce(&str) -> Result<()>,
) -> Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .context("cannot listen on 127.0.0.1 to hand the link to the browser")?;
    let port = listener.local_addr()?.port();
    let path = format!("/{}", nonce()?);
    open(&format!("http://127.0.0.1:{port}{path}"))?;

    let shared = Arc::new(Shared {
        link: Zeroizing::new(link.to_string()),
        path,
        port,
        served: AtomicBool::new(false),
        done: Notify::new(),
    });
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let shared = shared.clone();
                // Each on its own: a browser's speculative connection that sends nothing must
                // not hold up the one that asks.
                tokio::spawn(async move {
                    let redirected = AtomicBool::new(false);
                    let service = hyper::service::service_fn(|request| {
                        let answer = shared.answer(&request, peer, &redirected);
                        async move { Ok::<_, std::convert::Infallible>(answer) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEAD_TIMEOUT)
                        .keep_alive(false)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                    // Only now: the redirect has been written out.
                    if redirected.load(Ordering::SeqCst) {
                        shared.done.notify_one();
                    }
                });
            }
            () = shared.done.notified() => return Ok(()),
            () = &mut deadline => bail!(
                "the browser did not open the link within {} s",
                wait.as_secs()
            ),
        }
    }
}

struct Shared {
    link: Zeroizing<String>,
    path: String,
    port: u16,
    served: AtomicBool,
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
        if !same_user(peer, self.port) {
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
    getrandom::fill(&mut bytes).context("the system's random source failed")?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Whether the connection from `peer` to our `port` belongs to this user. On Linux the kernel's
/// TCP table (`/proc/net/tcp`, the table `ss` and identd read) has the uid of every socket; a
/// connection it does not list (gone already) is refused. Parsed here in a few lines rather
/// than through the `procfs` crate, of which this is the only use.
#[cfg(target_os = "linux")]
fn same_user(peer: SocketAddr, port: u16) -> bool {
    let SocketAddr::V4(peer) = peer else {
        return false;
    };
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        return false;
    };
    let own = rustix::process::getuid().as_raw();
    socket_owner(&table, peer, port) == Some(own)
}

#[cfg(not(target_os = "linux"))]
fn same_user(_peer: SocketAddr, _port: u16) -> bool {
    true
}

/// The uid of the socket in `table` whose local end is `peer` and remote end is 127.0.0.1:`port`.
/// Addresses are hex: the IPv4 address as the host's u32, then the port.
#[cfg(any(target_os = "linux", test))]
fn socket_owner(table: &str, peer: std::net::SocketAddrV4, port: u16) -> Option<u32> {
    let hex =
        |ip: Ipv4Addr, port: u16| format!("{:08X}:{port:04X}", u32::from_ne_bytes(ip.octets()));
    let local = hex(*peer.ip(), peer.port());
    let remote = hex(Ipv4Addr::LOCALHOST, port);
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid …
        (fields.get(1) == Some(&local.as_str()) && fields.get(2) == Some(&remote.as_str()))
            .then(|| fields.get(7)?.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_table_names_the_owner_of_a_connection() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:A1B2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 123 1\n   1: 0100007F:1F90 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 124 1\n";
        let table = if cfg!(target_endian = "little") {
            table.to_string()
        } else {
            table.replace("0100007F", "7F000001")
        };
        let peer = std::net::SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0xA1B2);
        assert_eq!(socket_owner(&table, peer, 0x1F90), Some(1000));
        assert_eq!(socket_owner(&table, peer, 0x1F91), None);
    }

    /// A real connection from this process is this user's; the link is served once.
    #[tokio::test]
    async fn the_link_is_served_once_to_this_user() {
        let opened = Arc::new(std::sync::Mutex::new(String::new()));
        let seen = opened.clone();
        let serving = tokio::spawn(open_once(
            "https://signin.example/federation?SigninToken=x",
            Duration::from_secs(20),
            move |url| {
                *seen.lock().unwrap() = url.to_string();
                Ok(())
            },
        ));
        let url = loop {
            let url = opened.lock().unwrap().clone();
            if !url.is_empty() {
                break url;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert!(!url.contains("SigninToken"));
        let (status, location) = fetch(&url).await;
        assert_eq!(status, 303);
        assert_eq!(
            location.as_deref(),
            Some("https://signin.example/federation?SigninToken=x")
        );
        serving.await.unwrap().unwrap();
    }

    async fn fetch(url: &str) -> (u16, Option<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let url = url::Url::parse(url).unwrap();
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", url.port().unwrap()))
            .await
            .unwrap();
        let head = format!(
            "GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            url.path()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        let status = answer[9..12].parse().unwrap();
        let location = answer
            .lines()
            .find_map(|line| line.strip_prefix("location: "))
            .map(str::to_string);
        (status, location)
    }
}
