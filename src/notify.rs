//! Telling the person when the agent needs them: a desktop notification per login (with the
//! user code and an "Open" action that opens the verification page — a browser login's
//! authorize page), withdrawn when the login ends, and a warning with "Log in now" before a
//! session that cannot be renewed ends. A browser login's page is also opened at once
//! (`OpenBrowser`), with `webbrowser` (`$BROWSER`, xdg-open, open), as `console` opens its link.

use crate::oidc::PendingLogin;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, oneshot};

/// The lead time for the "session ending" warning: `SSO_AGENT_WARN_BEFORE` minutes, default 15.
pub fn warn_before() -> Duration {
    let minutes = std::env::var("SSO_AGENT_WARN_BEFORE")
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .unwrap_or(15);
    Duration::from_secs(minutes * 60)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DesktopEvent {
    LoginNeeded(PendingLogin),
    LoginEnded {
        session: String,
    },
    /// A browser login's authorize page, opened by the agent (the one click of that login).
    OpenBrowser {
        session: String,
        url: String,
    },
    /// The session's token ends at `expires_at` and cannot be renewed.
    SessionEnding {
        session: String,
        expires_at: SystemTime,
    },
}

pub trait Notifier: Send + Sync + 'static {
    fn notify(&self, event: DesktopEvent);

    /// Shows the login's notification; completes with whether a notification server took it,
    /// so a caller that reaches nobody else can tell the person another way, or fail at once.
    fn login_needed(&self, pending: &PendingLogin) -> Shown {
        self.notify(DesktopEvent::LoginNeeded(pending.clone()));
        Box::pin(std::future::ready(false))
    }

    /// Opens a browser login's authorize page on this desktop; completes with whether a
    /// browser could be started, so a page that never opened is not counted as shown.
    fn open_browser(&self, session: &str, url: &str) -> Shown {
        self.notify(DesktopEvent::OpenBrowser {
            session: session.to_string(),
            url: url.to_string(),
        });
        Box::pin(std::future::ready(false))
    }

    /// Asks whether a remote session may use the agent: Allow / Deny.
    fn confirm_forward(&self, _ask: ForwardConfirmation) -> Confirmed {
        Box::pin(std::future::ready(None))
    }
}

/// Whether a notification was shown, once that is known.
pub type Shown = std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>;

/// What the person chose for a remote session (`sso-agent ssh --confirm`): `Some(true)` Allow,
/// `Some(false)` Deny (or the notification dismissed, or no answer in time), `None` when nobody
/// could be asked (no notification server).
pub type Confirmed = std::pin::Pin<Box<dyn std::future::Future<Output = Option<bool>> + Send>>;

/// How long a confirmation waits for the person before it counts as Deny: within the helper's
/// own 60 s wait for an answer.
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(45);

/// A remote session's first request, as the confirmation names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardConfirmation {
    /// The ssh destination (`sso-agent ssh`'s arguments).
    pub label: String,
    /// What it asks for ("credentials for profile dev").
    pub asking: String,
}

/// How long a notification server may take to take a notification before it counts as absent.
const SHOW_TIMEOUT: Duration = Duration::from_secs(5);

/// How long starting a browser may take before it counts as not started (`$BROWSER` may name a
/// text browser, which runs in the foreground until it exits).
const OPEN_TIMEOUT: Duration = Duration::from_secs(2);

/// Keeps the events, for tests of the agent in-process; `shown` is what login notifications
/// report.
#[derive(Default)]
pub struct RecordingNotifier {
    pub events: Mutex<Vec<DesktopEvent>>,
    pub shown: bool,
}

impl Notifier for RecordingNotifier {
    fn notify(&self, event: DesktopEvent) {
        self.events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(event);
    }

    fn login_needed(&self, pending: &PendingLogin) -> Shown {
        self.notify(DesktopEvent::LoginNeeded(pending.clone()));
        Box::pin(std::future::ready(self.shown))
    }
}

/// Desktop notifications: freedesktop over D-Bus on Linux, the native centre on macOS.
pub struct DesktopNotifier {
    events: mpsc::UnboundedSender<(DesktopEvent, Option<oneshot::Sender<bool>>)>,
}

impl Notifier for DesktopNotifier {
    fn notify(&self, event: DesktopEvent) {
        let _ = self.events.send((event, None));
    }

    fn confirm_forward(&self, ask: ForwardConfirmation) -> Confirmed {
        Box::pin(platform::confirm(ask))
    }

    fn login_needed(&self, pending: &PendingLogin) -> Shown {
        let (shown, answer) = oneshot::channel();
        let _ = self
            .events
            .send((DesktopEvent::LoginNeeded(pending.clone()), Some(shown)));
        Box::pin(async move {
            matches!(
                tokio::time::timeout(SHOW_TIMEOUT, answer).await,
                Ok(Ok(true))
            )
        })
    }

    fn open_browser(&self, _session: &str, url: &str) -> Shown {
        let (opened, answer) = oneshot::channel();
        let url = url.to_string();
        // webbrowser may block while a browser starts, so not on a runtime thread.
        std::thread::spawn(move || {
            let _ = opened.send(open_url(&url));
        });
        Box::pin(async move {
            matches!(
                tokio::time::timeout(OPEN_TIMEOUT, answer).await,
                Ok(Ok(true))
            )
        })
    }
}

impl DesktopNotifier {
    /// Starts the notification task on the current runtime. The receiver yields the sessions
    /// whose "Log in now" the person chose.
    pub fn start() -> (Self, mpsc::UnboundedReceiver<String>) {
        let (events, receiver) = mpsc::unbounded_channel();
        let (log_in_now, requests) = mpsc::unbounded_channel();
        tokio::spawn(platform::run(receiver, log_in_now));
        (Self { events }, requests)
    }
}

/// Opens `url` with `webbrowser` (`$BROWSER`, xdg-open, open); whether a browser started.
fn open_url(url: &str) -> bool {
    match webbrowser::open(url) {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!("cannot open a browser: {err}");
            false
        }
    }
}

/// `open_url` for a notification's action: nobody waits for its result.
fn open_in_browser(url: String) {
    // webbrowser honours $BROWSER; it may block while a browser starts, so not on a runtime thread.
    std::thread::spawn(move || open_url(&url));
}

fn login_text(pending: &PendingLogin) -> (String, String) {
    if pending.flow == crate::login_flow::LoginFlow::Browser {
        return (
            format!("AWS login needed: {}", pending.session),
            "Approve the login in your browser; if no page opened, choose Open.".to_string(),
        );
    }
    (
        format!("AWS login needed: {}", pending.session),
        format!(
            "Code {} — open the page to approve it.\n{}",
            pending.user_code, pending.verification_uri
        ),
    )
}

fn confirm_text(ask: &ForwardConfirmation) -> (String, String) {
    (
        "AWS: a remote host asks sso-agent".to_string(),
        format!(
            "{} asks for {}. Allow this SSH connection to use your AWS logins until it ends? (A click on the notification denies.)",
            shown_plain(&ask.label),
            shown_plain(&ask.asking)
        ),
    )
}

/// Text the remote side chose (a profile name), as plain text in a notification body: no
/// control characters, at most 120 characters, and no markup (servers may render the body's).
fn shown_plain(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(120)
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn ending_text(session: &str, expires_at: SystemTime) -> (String, String) {
    let minutes = expires_at
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        .as_secs()
        .div_ceil(60);
    (
        format!("AWS session {session} ends soon"),
        format!("It ends in {minutes} min and cannot be renewed: log in again to keep working."),
    )
}

#[cfg(not(target_os = "macos"))]
mod platform {
    use super::{
        confirm_text, ending_text, login_text, open_in_browser, DesktopEvent, ForwardConfirmation,
        CONFIRM_TIMEOUT,
    };
    use notify_rust::{Notification, NotificationHandle, NotificationResponse, Timeout};
    use std::collections::HashMap;
    use std::sync::Arc;
    use tokio::sync::{mpsc, oneshot};

    /// Allow / Deny. The default action (a click on the body) and a dismissal deny: only the
    /// Allow button allows, so a stray click never lets a remote host in.
    pub async fn confirm(ask: ForwardConfirmation) -> Option<bool> {
        let (summary, body) = confirm_text(&ask);
        let handle = match Notification::new()
            .appname("sso-agent")
            .summary(&summary)
            .body(&body)
            .action("default", "Deny")
            .action("allow", "Allow")
            .action("deny", "Deny")
            .timeout(Timeout::Never)
            .show_async()
            .await
        {
            Ok(handle) => handle,
            Err(err) => {
                tracing::warn!("cannot ask to confirm a remote session ({err}): it is denied");
                return None;
            }
        };
        let (chose, choice) = oneshot::channel();
        let waiting = async {
            handle
                .wait_for_action_async(|response| {
                    let allowed =
                        matches!(response, NotificationResponse::Action(name) if name == "allow");
                    let _ = chose.send(allowed);
                })
                .await;
            choice.await.unwrap_or(false)
        };
        let allowed = tokio::time::timeout(CONFIRM_TIMEOUT, waiting)
            .await
            .unwrap_or(false);
        handle.close_async().await;
        Some(allowed)
    }

    pub async fn run(
        mut events: mpsc::UnboundedReceiver<(DesktopEvent, Option<oneshot::Sender<bool>>)>,
        log_in_now: mpsc::UnboundedSender<String>,
    ) {
        // One notification per session at a time, replaced or withdrawn as its login moves on.
        let mut shown: HashMap<String, Arc<NotificationHandle>> = HashMap::new();
        let mut reported = false;
        while let Some((event, report)) = events.recv().await {
            let (session, summary, body, action, on_action): (
                String,
                String,
                String,
                &str,
                Box<dyn FnOnce() + Send>,
            ) = match event {
                DesktopEvent::LoginEnded { session } => {
                    if let Some(handle) = shown.remove(&session) {
                        handle.close_async().await;
                    }
                    continue;
                }
                DesktopEvent::OpenBrowser { url, .. } => {
                    open_in_browser(url);
                    continue;
                }
                DesktopEvent::LoginNeeded(pending) => {
                    let (summary, body) = login_text(&pending);
                    let url = pending.verification_uri_complete.clone();
                    (
                        pending.session,
                        summary,
                        body,
                        "Open",
                        Box::new(move || open_in_browser(url)),
                    )
                }
                DesktopEvent::SessionEnding {
                    session,
                    expires_at,
                } => {
                    let (summary, body) = ending_text(&session, expires_at);
                    let (sender, name) = (log_in_now.clone(), session.clone());
                    (
                        session,
                        summary,
                        body,
                        "Log in now",
                        Box::new(move || {
                            let _ = sender.send(name);
                        }),
                    )
                }
            };
            if let Some(previous) = shown.remove(&session) {
                previous.close_async().await;
            }
            // The action is also the default one (a click on the notification itself).
            let sent = Notification::new()
                .appname("sso-agent")
                .summary(&summary)
                .body(&body)
                .action("default", action)
                .action("act", action)
                .timeout(Timeout::Never)
                .show_async()
                .await;
            if let Some(report) = report {
                let _ = report.send(sent.is_ok());
            }
            match sent {
                Ok(handle) => {
                    let handle = Arc::new(handle);
                    shown.insert(session, handle.clone());
                    tokio::spawn(async move {
                        handle
                            .wait_for_action_async(|response| {
                                if matches!(response, NotificationResponse::Default)
                                    || matches!(response, NotificationResponse::Action(name) if name == "act")
                                {
                                    on_action();
                                }
                            })
                            .await;
                    });
                }
                Err(err) if !reported => {
                    reported = true;
                    tracing::warn!("cannot show desktop notifications ({err}); `sso-agent login` and `sso-agent status` show the login link and code");
                }
                Err(_) => {}
            }
        }
    }
}

/// macOS: notify-rust's native notifications carry no actions we can wait on here; the person
/// sees the code and runs `sso-agent login`. Untested on this project's CI.
#[cfg(target_os = "macos")]
mod platform {
    use super::{ending_text, login_text, open_in_browser, DesktopEvent, ForwardConfirmation};
    use tokio::sync::{mpsc, oneshot};

    /// No actions to wait on here (see above): nobody can be asked, so `--confirm` denies.
    pub async fn confirm(_ask: ForwardConfirmation) -> Option<bool> {
        None
    }

    pub async fn run(
        mut events: mpsc::UnboundedReceiver<(DesktopEvent, Option<oneshot::Sender<bool>>)>,
        _log_in_now: mpsc::UnboundedSender<String>,
    ) {
        while let Some((event, report)) = events.recv().await {
            let (summary, body) = match event {
                DesktopEvent::LoginNeeded(pending) => login_text(&pending),
                DesktopEvent::SessionEnding {
                    session,
                    expires_at,
                } => ending_text(&session, expires_at),
                DesktopEvent::LoginEnded { .. } => continue,
                DesktopEvent::OpenBrowser { url, .. } => {
                    open_in_browser(url);
                    continue;
                }
            };
            let shown = tokio::task::spawn_blocking(move || match notify_rust::Notification::new()
                .summary(&summary)
                .body(&body)
                .show()
            {
                Ok(_) => true,
                Err(err) => {
                    tracing::warn!("cannot show a notification: {err}");
                    false
                }
            })
            .await
            .unwrap_or(false);
            if let Some(report) = report {
                let _ = report.send(shown);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn what_a_remote_host_names_is_shown_as_plain_text() {
        let shown = super::shown_plain("credentials for profile <b>prod</b> & co\n\x1b[31m");
        assert_eq!(
            shown,
            "credentials for profile &lt;b&gt;prod&lt;/b&gt; &amp; co  [31m"
        );
        assert_eq!(super::shown_plain(&"x".repeat(500)).len(), 120);
    }
}
