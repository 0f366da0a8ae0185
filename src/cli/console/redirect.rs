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
        if !same_user(peer, self.port) {
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
    getrandom::fill(&mut bytes).context("the system's random source failed")?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Whether the connection from `peer` to our `port` belongs to this user (or to root, who can
/// read the link anyway). On Linux the kernel's TCP tables (`/proc/net/tcp`, and `tcp6` for a
/// dual-stack client's IPv4-mapped socket: the tables `ss` and identd read) have the uid of every
/// socket; a connection they do not list (gone already) is refused. Parsed here in a few lines
/// rather than through the `procfs` crate, of which this would be the only use.
#[cfg(target_os = "linux")]
fn same_user(peer: SocketAddr, port: u16) -> bool {
    let SocketAddr::V4(peer) = peer else {
        return false;
    };
    let own = rustix::process::getuid().as_raw();
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        std::fs::read_to_string(table)
            .ok()
            .and_then(|table| socket_owner(&table, peer, port))
            .is_some_and(|uid| uid == own || uid == 0)
    })
}

#[cfg(not(target_os = "linux"))]
fn same_user(_peer: SocketAddr, _port: u16) -> bool {
    true
}

/// The uid of the socket in `table` whose local end is `peer` and remote end is 127.0.0.1:`port`.
/// Addresses are hex, each 32-bit word of the address as the host stores it, then the port; in
/// `tcp6` an IPv4 client of a dual-stack socket is `::ffff:a.b.c.d`.
#[cfg(any(target_os = "linux", test))]
fn socket_owner(table: &str, peer: std::net::SocketAddrV4, port: u16) -> Option<u32> {
    let wanted = [false, true].map(|mapped| {
        (
            table_address(*peer.ip(), peer.port(), mapped),
            table_address(Ipv4Addr::LOCALHOST, port, mapped),
        )
    });
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid …
        let (local, remote) = (*fields.get(1)?, *fields.get(2)?);
        wanted
            .iter()
            .any(|(l, r)| l == local && r == remote)
            .then(|| fields.get(7)?.parse().ok())
            .flatten()
    })
}

/// An address as the TCP tables write it: `tcp`'s IPv4 form, or `tcp6`'s IPv4-mapped one.
#[cfg(any(target_os = "linux", test))]
fn table_address(ip: Ipv4Addr, port: u16, mapped: bool) -> String {
    let word = |bytes: [u8; 4]| format!("{:08X}", u32::from_ne_bytes(bytes));
    let prefix = if mapped {
        format!(
            "{}{}{}",
            word([0; 4]),
            word([0; 4]),
            word([0, 0, 0xff, 0xff])
        )
    } else {
        String::new()
    };
    format!("{prefix}{}:{port:04X}", word(ip.octets()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn the_socket_tables_name_the_owner_of_a_connection() {
        let ip = table_address(Ipv4Addr::LOCALHOST, 0xA1B2, false);
        let server = table_address(Ipv4Addr::LOCALHOST, 0x1F90, false);
        if cfg!(target_endian = "little") {
            assert_eq!(ip, "0100007F:A1B2");
            assert_eq!(
                table_address(Ipv4Addr::LOCALHOST, 0xA1B2, true),
                "0000000000000000FFFF00000100007F:A1B2"
            );
        }
        let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
        let row = |local: &str, remote: &str, uid: u32| {
            format!("   0: {local} {remote} 01 00000000:00000000 00:00000000 00000000 {uid:5}        0 123 1\n")
        };
        // The client's row and the accepted socket's row: only the client's end matches.
        let table = format!(
            "{header}{}{}",
            row(&ip, &server, 1000),
            row(&server, &ip, 0)
        );
        let peer = std::net::SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0xA1B2);
        assert_eq!(socket_owner(&table, peer, 0x1F90), Some(1000));
        assert_eq!(socket_owner(&table, peer, 0x1F91), None);
        // A dual-stack client, listed in tcp6 only.
        let (ip6, server6) = (
            table_address(Ipv4Addr::LOCALHOST, 0xA1B2, true),
            table_address(Ipv4Addr::LOCALHOST, 0x1F90, true),
        );
        let tcp6 = format!("{header}{}", row(&ip6, &server6, 1001));
        assert_eq!(socket_owner(&tcp6, peer, 0x1F90), Some(1001));
    }

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
