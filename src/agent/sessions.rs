//! The agent's sessions: a token snapshot readers never wait on, one login at a time however
//! many callers need it, and refresh ahead of expiry.

use crate::config::SsoSessionConfig;
use crate::notify::{DesktopEvent, Notifier};
use crate::oidc::PendingLogin;
use crate::protocol::PendingLoginInfo;
use crate::session::{RefreshOutcome, Session};
use crate::store::{epoch_to_time, TokenSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// Where a login stands, as its waiters see it.
#[derive(Debug, Clone)]
pub enum LoginState {
    Starting,
    Pending(PendingLogin),
    Done(Result<(), String>),
}

pub struct SessionSlot {
    pub config: SsoSessionConfig,
    /// Held by whoever changes the session: a login, a refresh, a logout.
    session: tokio::sync::Mutex<Session>,
    /// The current tokens, for readers.
    token: RwLock<Option<TokenSet>>,
    /// The login in progress, if any.
    login: Mutex<Option<watch::Receiver<LoginState>>>,
    notifier: Arc<dyn Notifier>,
    /// The token expiry the person was last warned about, so each warning comes once.
    warned_for: Mutex<Option<u64>>,
    /// Wakes the refresher when a login ends, so a new token's schedule starts at once.
    changed: Arc<tokio::sync::Notify>,
    /// Bumped to cancel the login in progress (a logout does).
    cancel_login: watch::Sender<u64>,
    /// The session's last refresh error, for `status`.
    last_error: Mutex<Option<String>>,
}

/// Why a session cannot give a token right now.
pub enum NotReady {
    /// A login is under way; here is what the person must do.
    LoginPending(PendingLoginInfo),
    /// The login failed or could not start.
    LoginFailed(String),
}

impl SessionSlot {
    pub fn new(
        session: Session,
        notifier: Arc<dyn Notifier>,
        changed: Arc<tokio::sync::Notify>,
    ) -> Self {
        let token = session.token().cloned();
        Self {
            config: session.config().clone(),
            session: tokio::sync::Mutex::new(session),
            token: RwLock::new(token),
            login: Mutex::new(None),
            notifier,
            warned_for: Mutex::new(None),
            changed,
            cancel_login: watch::channel(0).0,
            last_error: Mutex::new(None),
        }
    }

    /// The access token if it is valid at `now`.
    pub fn valid_token(&self, now: SystemTime) -> Option<TokenSet> {
        self.token
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
            .filter(|token| epoch_to_time(token.expires_at) > now)
    }

    pub fn token_snapshot(&self) -> Option<TokenSet> {
        self.token
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn publish(&self, token: Option<TokenSet>) {
        *self
            .token
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = token;
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Forgets `token` for serving (the service revoked it); a newer token is kept.
    pub fn drop_token(&self, token: &TokenSet) {
        let mut current = self
            .token
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if current.as_ref() == Some(token) {
            *current = None;
        }
    }

    /// The pending login's details, if one is waiting for a person.
    pub fn pending_login(&self) -> Option<PendingLoginInfo> {
        let state = {
            let login = self
                .login
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let state = login.as_ref()?.borrow().clone();
            state
        };
        match state {
            LoginState::Pending(pending) => Some(info(&pending)),
            _ => None,
        }
    }

    /// A valid token, logging in first if needed. With `wait`, waits for the login to end;
    /// without, returns as soon as the person has something to do.
    pub async fn token_or_login(
        self: &Arc<Self>,
        wait: bool,
        cancel: &watch::Receiver<bool>,
    ) -> Result<TokenSet, NotReady> {
        if let Some(token) = self.valid_token(SystemTime::now()) {
            return Ok(token);
        }
        let mut login = self.start_or_join_login(cancel, false);
        loop {
            let state = login.borrow_and_update().clone();
            match state {
                LoginState::Done(Ok(())) => {
                    return self.valid_token(SystemTime::now()).ok_or_else(|| {
                        NotReady::LoginFailed("the login ended without a token".into())
                    })
                }
                LoginState::Done(Err(message)) => return Err(NotReady::LoginFailed(message)),
                LoginState::Pending(pending) if !wait => {
                    return Err(NotReady::LoginPending(info(&pending)))
                }
                _ => {}
            }
            if login.changed().await.is_err() {
                return Err(NotReady::LoginFailed("the login was abandoned".into()));
            }
        }
    }

    /// Joins the login in progress or starts one: one device flow however many callers wait.
    /// `renew` starts one even while the token is valid (the person asked to log in again).
    pub fn start_or_join_login(
        self: &Arc<Self>,
        cancel: &watch::Receiver<bool>,
        renew: bool,
    ) -> watch::Receiver<LoginState> {
        let mut login = self
            .login
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // A login that ended between the caller's check and this lock: nothing to start.
        if !renew && self.valid_token(SystemTime::now()).is_some() {
            return watch::channel(LoginState::Done(Ok(()))).1;
        }
        if let Some(receiver) = login.as_ref() {
            if !matches!(&*receiver.borrow(), LoginState::Done(_)) {
                return receiver.clone();
            }
        }
        let (sender, receiver) = watch::channel(LoginState::Starting);
        *login = Some(receiver.clone());
        let slot = self.clone();
        let mut cancel = cancel.clone();
        // Subscribed now, so a logout from here on cancels this login.
        let mut cancelled = self.cancel_login.subscribe();
        tokio::spawn(async move {
            let mut session = slot.session.lock().await;
            let notifier = slot.notifier.clone();
            let result = session
                .login(
                    |pending| {
                        notifier.notify(DesktopEvent::LoginNeeded(pending.clone()));
                        let _ = sender.send(LoginState::Pending(pending.clone()));
                    },
                    async move {
                        tokio::select! {
                            () = super::stopped(&mut cancel) => {}
                            _ = cancelled.changed() => {}
                        }
                    },
                )
                .await;
            slot.publish(session.token().cloned());
            drop(session);
            slot.notifier.notify(DesktopEvent::LoginEnded {
                session: slot.config.name.clone(),
            });
            slot.changed.notify_one();
            if let Err(err) = &result {
                tracing::warn!("{err}");
            }
            let _ = sender.send(LoginState::Done(result.map_err(|err| err.to_string())));
        });
        receiver
    }

    /// Refreshes the token if it is due; `None` when a login or logout holds the session.
    /// A token that cannot be renewed and ends within `warn_before` gets one warning.
    pub async fn refresh_if_due(
        &self,
        now: SystemTime,
        warn_before: Duration,
    ) -> Option<RefreshOutcome> {
        let mut session = self.session.try_lock().ok()?;
        let before = session.token().cloned();
        let outcome = match session.refresh_if_due(now).await {
            Ok(outcome) => outcome,
            Err(err) => {
                tracing::warn!("{err}");
                RefreshOutcome::RetryLater(crate::oidc::refresh::MIN_GAP)
            }
        };
        self.publish(session.token().cloned());
        *self
            .last_error
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) =
            session.last_error().map(str::to_string);
        if outcome == RefreshOutcome::NeedsLogin {
            if let Some(token) = before {
                // Either it was never renewable, or its refresh token was just rejected.
                let ends = epoch_to_time(token.expires_at);
                let rejected = session.token().is_none();
                if rejected || now + warn_before >= ends {
                    self.warn_once(token.expires_at, if rejected { now } else { ends });
                }
            }
        }
        Some(outcome)
    }

    fn warn_once(&self, expires_at: u64, ends: SystemTime) {
        let mut warned = self
            .warned_for
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *warned == Some(expires_at) {
            return;
        }
        *warned = Some(expires_at);
        self.notifier.notify(DesktopEvent::SessionEnding {
            session: self.config.name.clone(),
            expires_at: ends,
        });
    }

    /// Forgets the session's tokens (keyring item included); returns the token it had.
    pub async fn forget(&self) -> Result<Option<TokenSet>, String> {
        // A login waiting for a person holds the session: end it first.
        self.cancel_login.send_modify(|generation| *generation += 1);
        let mut session = self.session.lock().await;
        let token = session.token().cloned();
        session.forget().await.map_err(|err| err.to_string())?;
        self.publish(None);
        Ok(token)
    }
}

pub fn info(pending: &PendingLogin) -> PendingLoginInfo {
    PendingLoginInfo {
        session: pending.session.clone(),
        verification_uri: pending.verification_uri.clone(),
        verification_uri_complete: pending.verification_uri_complete.clone(),
        user_code: pending.user_code.clone(),
        expires_in: pending.time_left(SystemTime::now()).as_secs(),
    }
}

/// How long the refresher sleeps between rounds at most (wall-clock jumps are caught by then).
pub const REFRESH_ROUND: Duration = crate::oidc::refresh::MAX_SLEEP;
