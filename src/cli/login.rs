//! `sso-agent login`: start (or join) a session's login in the agent, show what the person does
//! (a browser login: the authorize URL the agent opened; a device login: the link, the code, a
//! QR code, and the browser opened here), and wait until the session is live.

use anyhow::{bail, Result};
use sso_agent::client::{AgentClient, LOGIN_WAIT, REQUEST_TIMEOUT};
use sso_agent::protocol::{LoginFlow, PendingLoginInfo, Request, Response};

/// `sso-agent login`'s flags.
pub struct LoginArgs {
    pub session: Option<String>,
    pub profile: Option<String>,
    pub no_browser: bool,
    pub force: bool,
    pub use_device_code: bool,
    pub redirect_port: Option<u16>,
}

pub fn run(args: LoginArgs) -> Result<()> {
    let no_browser = args.no_browser;
    let mut client = AgentClient::connect()?;
    let request = Request::Login {
        session: args.session,
        profile: args.profile,
        force: args.force,
        use_device_code: args.use_device_code,
        redirect_port: args.redirect_port,
        no_browser,
    };
    let pending = match client.request(request, REQUEST_TIMEOUT)? {
        Response::LoggedIn {
            session,
            expires_at,
        } => {
            println!(
                "Already logged in to sso-session {session} (token valid until {expires_at})."
            );
            return Ok(());
        }
        Response::LoginPending(pending) => pending,
        other => bail!("unexpected answer from the agent: {}", other.kind()),
    };
    show(&pending, no_browser, args.redirect_port);
    let mut shown = pending;
    // The login may publish another link while this waits (another `login --use-device-code`
    // or `--redirect-port`, a re-registration): each is shown as it comes.
    loop {
        let request = Request::AwaitLogin {
            session: shown.session.clone(),
            shown: Some(shown.verification_uri_complete.clone()),
        };
        match client.request(request, LOGIN_WAIT)? {
            Response::LoggedIn {
                session,
                expires_at,
            } => {
                println!("Logged in to sso-session {session} (token valid until {expires_at}; the agent renews it).");
                return Ok(());
            }
            Response::LoginPending(next) => {
                println!("The login changed:");
                show(&next, no_browser, None);
                shown = next;
            }
            other => bail!("unexpected answer from the agent: {}", other.kind()),
        }
    }
}

fn show(pending: &PendingLoginInfo, no_browser: bool, redirect_port: Option<u16>) {
    if pending.flow == LoginFlow::Browser {
        return show_browser(pending, no_browser);
    }
    if let Some(port) = redirect_port {
        // The agent chose the device code (no display, or the key): no callback to forward.
        println!("--redirect-port {port} is not used: this login uses a device code.");
    }
    println!(
        "Log in to sso-session {} with a device code ({}):",
        pending.session,
        reason(pending)
    );
    println!("  open   {}", pending.verification_uri);
    println!("  code   {}", pending.user_code);
    println!("  or go straight to {}", pending.verification_uri_complete);
    if let Some(qr) = qr_code(&pending.verification_uri_complete) {
        println!("  or scan this with a phone (no browser needed here):\n{qr}");
    }
    if no_browser {
        // Said in the lines above: the link, the code, the QR code.
    } else if !can_open_browser(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty())) {
        println!("No browser here (no DISPLAY, WAYLAND_DISPLAY or BROWSER): open the link above on any device.");
    } else {
        // The browser opens in the user's own environment; webbrowser honours $BROWSER.
        match webbrowser::open(&pending.verification_uri_complete) {
            Ok(()) => println!("Opened the page in your browser."),
            Err(err) => println!("Could not open a browser ({err}); open the link above."),
        }
    }
    println!(
        "Waiting for approval (the code expires in {} min)…",
        pending.expires_in.div_ceil(60)
    );
}

/// A browser login: the agent opened the page (unless `--no-browser`); the URL is printed all
/// the same, so the login can be finished if no page came up.
fn show_browser(pending: &PendingLoginInfo, no_browser: bool) {
    println!(
        "Log in to sso-session {} in the browser ({}):",
        pending.session,
        reason(pending)
    );
    if no_browser {
        println!("  open   {}", pending.verification_uri_complete);
    } else {
        println!("  the agent opened the login page; if none came up, open");
        println!("         {}", pending.verification_uri_complete);
    }
    println!("  (on another machine than the agent's, use `sso-agent login --use-device-code`)");
    println!(
        "Waiting for the browser (up to {} min)…",
        pending.expires_in.div_ceil(60)
    );
}

/// Why the agent chose this flow; an older agent does not say.
fn reason(pending: &PendingLoginInfo) -> &str {
    if pending.flow_reason.is_empty() {
        "chosen by the agent"
    } else {
        &pending.flow_reason
    }
}

/// Whether a browser can show a page here. On Linux without a display server nor `$BROWSER`
/// (SSH, a console) webbrowser may still answer Ok (it finds a text browser, or xdg-open fails
/// quietly), and "Opened the page" would send the person looking for a window that never came.
pub(crate) fn can_open_browser(set: impl Fn(&str) -> bool) -> bool {
    if cfg!(target_os = "linux") {
        ["DISPLAY", "WAYLAND_DISPLAY", "BROWSER"]
            .into_iter()
            .any(set)
    } else {
        true
    }
}

/// The URL as a QR code of half-block characters. The ink marks the code's light modules, so
/// it reads right on the usual dark terminal (as `qrencode -t UTF8` does).
fn qr_code(url: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(url.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}
