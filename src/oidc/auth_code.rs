//! The authorization-code grant with PKCE, run to its end: a loopback listener for the callback,
//! the authorize URL for the browser, the state checked, then CreateToken with the code and the
//! verifier. A wrong or missing state, an `error=` answer, no answer in time, or a port that
//! cannot be listened on each end the login with one line saying what to do.

use super::callback::{Callback, CallbackListener};
use super::error::{login_error, LoginError};
use super::pkce::{authorize_url, redirect_uri, PkceLogin, GRANT_AUTHORIZATION_CODE};
use super::{token_set, PendingLogin};
use crate::aws_sdk::CallFailure;
use crate::login_flow::LoginFlow;
use crate::store::{Registration, TokenSet};
use std::future::Future;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, SystemTime};

/// How long a browser login waits for the callback: the AWS CLI's 10 minutes, or
/// `SSO_AGENT_BROWSER_LOGIN_TIMEOUT` seconds.
pub fn browser_login_timeout() -> Duration {
    std::env::var("SSO_AGENT_BROWSER_LOGIN_TIMEOUT")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .filter(|seconds| *seconds > 0)
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs)
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// What a person joining a browser login that still waits for its callback asked of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoginSwitch {
    #[default]
    Stay,
    /// `--use-device-code`: a device-code login takes its place.
    ToDeviceCode,
    /// `--redirect-port N`: the login starts again, listening on N (as forwarded to the browser).
    ToPort(u16),
}

/// How a browser login ended without failing.
#[derive(Debug)]
pub enum BrowserEnd {
    Token(TokenSet),
    /// It gave way to what a joiner asked, before any answer came back: nothing was lost.
    Switched(LoginSwitch),
}

/// Whether a callback listener could be bound on `port` now (it is let go at once).
pub async fn port_is_free(port: u16) -> bool {
    CallbackListener::bind(Some(port)).await.is_ok()
}

/// The next switch asked on `switches`; never, once nobody can ask any more.
async fn next_switch(switches: &mut tokio::sync::watch::Receiver<LoginSwitch>) -> LoginSwitch {
    if switches.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
    *switches.borrow_and_update()
}

/// Where the browser login listens and how long it waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrowserLogin {
    /// `--redirect-port N`; `None`: an ephemeral port.
    pub redirect_port: Option<u16>,
    pub timeout: Duration,
}

/// What a browser login needs to know of its session.
pub struct AuthorizeTarget<'a> {
    pub session: &'a str,
    /// The sso-oidc endpoint the client calls (its `/authorize` is the page).
    pub endpoint: &'a str,
    pub scopes: &'a [String],
}

/// Runs one browser login to its end. `on_pending` hears the authorize URL once the listener
/// is up; `cancel` completing stops the login (and the listener). A switch on `switches` is
/// taken only while no answer has come back: a code the browser brought is always redeemed.
pub async fn browser_login(
    client: &aws_sdk_ssooidc::Client,
    target: AuthorizeTarget<'_>,
    registration: &Registration,
    options: BrowserLogin,
    on_pending: &mut (dyn FnMut(&PendingLogin) + Send),
    cancel: impl Future<Output = ()>,
    switches: &mut tokio::sync::watch::Receiver<LoginSwitch>,
) -> Result<BrowserEnd, LoginError> {
    let session = target.session;
    let mut options = options;
    // A switch asked while the login was still starting (registering, or waiting for the
    // session) is taken before any page is published or opened.
    if switches.has_changed().unwrap_or(false) {
        match *switches.borrow_and_update() {
            LoginSwitch::ToDeviceCode => {
                return Ok(BrowserEnd::Switched(LoginSwitch::ToDeviceCode))
            }
            LoginSwitch::ToPort(port) => options.redirect_port = Some(port),
            LoginSwitch::Stay => {}
        }
    }
    let listener = CallbackListener::bind(options.redirect_port)
        .await
        .map_err(|err| LoginError::CallbackPort {
            session: session.to_string(),
            port: options.redirect_port.unwrap_or(0),
            reason: match err.kind() {
                std::io::ErrorKind::AddrInUse => "the port is in use".to_string(),
                _ => err.to_string(),
            },
        })?;
    let pkce = PkceLogin::new().map_err(|err| LoginError::Random {
        session: session.to_string(),
        reason: err.to_string(),
    })?;
    let redirect = redirect_uri(listener.port());
    let url = authorize_url(
        target.endpoint,
        &registration.client_id,
        &redirect,
        &pkce.state,
        &pkce.challenge,
        target.scopes,
    )
    .map_err(|err| LoginError::Refused {
        session: session.to_string(),
        operation: "authorize",
        code: "InvalidEndpoint".into(),
        meaning: format!(
            "the sso-oidc endpoint {} is not a URL ({err})",
            target.endpoint
        ),
    })?;
    on_pending(&PendingLogin {
        session: session.to_string(),
        verification_uri: url.clone(),
        verification_uri_complete: url,
        user_code: String::new(),
        expires_at: SystemTime::now() + options.timeout,
        flow: LoginFlow::Browser,
        flow_reason: String::new(),
        callback_port: Some(listener.port()),
    });
    tracing::info!(
        session,
        port = listener.port(),
        "waiting for the browser's answer"
    );

    let refused = AtomicUsize::new(0);
    let port = listener.port();
    let mut callback_wait = std::pin::pin!(listener.wait(&pkce.state, &refused));
    let mut timeout = std::pin::pin!(tokio::time::sleep(options.timeout));
    let mut cancel = std::pin::pin!(cancel);
    let callback = loop {
        tokio::select! {
            // The browser's answer first: once the page has said "sso-agent has your login",
            // a switch polled in the same round must not throw the code away.
            biased;
            callback = &mut callback_wait => break callback,
            () = &mut timeout => {
                return Err(LoginError::BrowserTimedOut {
                    session: session.to_string(),
                    seconds: options.timeout.as_secs(),
                })
            }
            () = &mut cancel => return Err(LoginError::Cancelled { session: session.to_string() }),
            switch = next_switch(switches) => match switch {
                LoginSwitch::Stay => {}
                LoginSwitch::ToPort(wanted) if wanted == port => {}
                LoginSwitch::ToPort(wanted) if !port_is_free(wanted).await => {
                    // The login the others wait on goes on rather than end on a bad port.
                    tracing::warn!(session, port = wanted, "the browser login stays on its port: the one asked for is in use");
                }
                switch => return Ok(BrowserEnd::Switched(switch)),
            },
        }
    };
    let code = match callback {
        Callback::Code(code) => code,
        Callback::StateMismatch { missing } => {
            tracing::warn!(
                session,
                missing,
                "the browser's answer did not carry this login's state"
            );
            return Err(LoginError::StateMismatch {
                session: session.to_string(),
                problem: if missing {
                    "carried no state"
                } else {
                    "carried another login's state"
                },
            });
        }
        Callback::Error { error, .. } if error == "access_denied" => {
            return Err(LoginError::Denied {
                session: session.to_string(),
            })
        }
        Callback::Error { error, description } => {
            return Err(LoginError::AuthorizeFailed {
                session: session.to_string(),
                error,
                description,
            })
        }
    };
    let answer = client
        .create_token()
        .client_id(&registration.client_id)
        .client_secret(registration.client_secret.expose())
        .grant_type(GRANT_AUTHORIZATION_CODE)
        .code(code.expose())
        .code_verifier(pkce.verifier.expose())
        .redirect_uri(&redirect)
        .send()
        .await
        .map_err(|err| login_error(CallFailure::from_sdk(err), session, "CreateToken"))?;
    token_set(session, &answer, None).map(BrowserEnd::Token)
}
