//! One sso-session in the agent: its lifecycle (lifecycle.rs) under one lock, the token readers
//! take without waiting, and the flights — a refresh or a login — that the lifecycle allows one
//! at a time. Callers join the flight in progress and decide again when it ends.

use super::lifecycle::{Lifecycle, Step, TokenFacts, Want};
use crate::config::SsoSessionConfig;
use crate::login_flow::{self, FlowChoice, FlowEnvironment, FlowSetting, LoginFlow};
use crate::notify::{DesktopEvent, Notifier};
use crate::oidc::refresh::MAX_SLEEP;
use crate::oidc::{LoginSwitch, PendingLogin};
use crate::protocol::{LoginFlowStatus, PendingLoginInfo};
use crate::session::{LoginPlan, Refreshed, Session};
use crate::store::{epoch_to_time, TokenSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

mod adopt;

/// A flight as its waiters see it.
#[derive(Debug, Clone)]
enum Flight {
    Refreshing,
    LoggingIn,
    /// The login has a code for the person; `notified`: a desktop notification shows it.
    Pending {
        login: PendingLogin,
        notified: bool,
    },
    Done {
        login: bool,
        /// The token the flight brought, or why it brought none.
        result: Result<Option<TokenSet>, String>,
    },
}

pub struct SessionSlot {
    pub config: SsoSessionConfig,
    /// The sso-oidc endpoint its session talks to; another one in the config reopens it.
    pub oidc_endpoint: String,
    state: Mutex<State>,
    /// Used by the flight in progress, and by a logout once it has cancelled that flight.
    session: tokio::sync::Mutex<Session>,
    notifier: Arc<dyn Notifier>,
    /// Wakes the refresher when a flight ends, so a new token's schedule starts at once.
    changed: Arc<tokio::sync::Notify>,
}

struct State {
    life: Lifecycle,
    /// The current tokens, for serving.
    token: Option<TokenSet>,
    flight: Option<watch::Receiver<Flight>>,
    /// Ends the login in progress (a logout, or the config changing).
    cancel: watch::Sender<u64>,
    /// Turns a browser login in progress into a device-code login (`--use-device-code`), or
    /// moves it to another port (`--redirect-port`).
    switches: watch::Sender<LoginSwitch>,
    /// The flow of the current or last login, and why.
    login_flow: Option<FlowChoice>,
    /// `sso_agent_login_flow` as the config has it now (an edit of it keeps the slot).
    flow_setting: FlowSetting,
    /// Why the store lacks the newest tokens, while it does.
    unsaved: Option<String>,
    /// Why the last login failed, until one succeeds.
    login_error: Option<String>,
    /// The token expiry the person was last warned about, so each warning comes once.
    warned_for: Option<u64>,
    /// The config no longer has this session as it was: nothing starts here any more.
    retired: bool,
    logouts: u64,
    /// When to retry a failed store write.
    next_save_retry: Option<SystemTime>,
    save_failures: u32,
    /// The AWS CLI cache file the last imported login came from (`adopt`).
    imported_from: Option<String>,
}

/// Why a session cannot give a token right now.
pub enum NotReady {
    /// A login is under way; here is what the person must do.
    LoginPending(PendingLoginInfo),
    /// The login failed, could not start, or the token cannot be renewed now.
    Failed(String),
}

/// What the person asked of a login they start (`sso-agent login`'s flags); a request that
/// joins a login already under way takes it as it is, except that `use_device_code` turns a
/// browser login still waiting for its callback into a device-code one, and `redirect_port`
/// moves it to that port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoginOptions {
    pub use_device_code: bool,
    pub redirect_port: Option<u16>,
    /// Do not open a browser for a browser login this starts.
    pub no_browser: bool,
}

/// How long a request for a token waits on a login that needs a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    /// Not at all: such a login is `LoginPending` at once.
    No,
    /// Until the login ends.
    ForToken,
    /// Until it ends, or publishes a link other than this one (which its caller shows).
    UntilNewLink(String),
}

impl Waiting {
    fn answers(&self, login: &PendingLogin) -> bool {
        match self {
            Waiting::No => true,
            Waiting::ForToken => false,
            Waiting::UntilNewLink(shown) => *shown != login.verification_uri_complete,
        }
    }
}

/// The first gap between retries of a failed store write.
const SAVE_RETRY_GAP: Duration = Duration::from_secs(5);

/// More rounds than any real sequence takes (refresh, login, join): a bug never loops forever.
const MAX_ROUNDS: usize = 8;

impl SessionSlot {
    pub fn new(
        session: Session,
        oidc_endpoint: &str,
        notifier: Arc<dyn Notifier>,
        changed: Arc<tokio::sync::Notify>,
    ) -> Self {
        let token = session.token().cloned();
        Self {
            config: session.config().clone(),
            oidc_endpoint: oidc_endpoint.to_string(),
            state: Mutex::new(State {
                life: Lifecycle::new(token.as_ref().map(facts)),
                token,
                flight: None,
                cancel: watch::channel(0).0,
                switches: watch::channel(LoginSwitch::Stay).0,
                login_flow: None,
                flow_setting: session.config().login_flow,
                unsaved: session.unsaved().map(str::to_string),
                login_error: None,
                warned_for: None,
                retired: false,
                logouts: 0,
                next_save_retry: None,
                save_failures: 0,
                imported_from: None,
            }),
            session: tokio::sync::Mutex::new(session),
            notifier,
            changed,
        }
    }

    /// Records what the store lacks; a new failure wakes the refresher, which retries it.
    fn note_unsaved(&self, session: &Session) {
        let unsaved = session.unsaved().map(str::to_string);
        let newly = unsaved.is_some() && self.state().unsaved.is_none();
        let mut state = self.state();
        if unsaved.is_none() {
            state.save_failures = 0;
            state.next_save_retry = None;
        }
        state.unsaved = unsaved;
        drop(state);
        if newly {
            self.changed.notify_one();
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The access token if it is valid at `now`.
    pub fn valid_token(&self, now: SystemTime) -> Option<TokenSet> {
        self.state()
            .token
            .clone()
            .filter(|token| epoch_to_time(token.expires_at) > now)
    }

    pub fn token_snapshot(&self) -> Option<TokenSet> {
        self.state().token.clone()
    }

    /// What `status` shows of the session's troubles: store, refresh, login — newest concern first.
    pub fn last_error(&self) -> Option<String> {
        let state = self.state();
        if let Some(unsaved) = &state.unsaved {
            return Some(format!("not saved: {unsaved}"));
        }
        state
            .life
            .refresh_error()
            .map(str::to_string)
            .or_else(|| state.login_error.clone())
    }

    /// How many logouts the session has had: a fetch that saw this change mid-call caches nothing.
    pub fn logouts(&self) -> u64 {
        self.state().logouts
    }

    /// The pending login's details, if one is waiting for a person.
    pub fn pending_login(&self) -> Option<PendingLoginInfo> {
        let flight = self.state().flight.clone()?;
        let current = flight.borrow().clone();
        match current {
            Flight::Pending { login, notified } => Some(info(&login, notified)),
            _ => None,
        }
    }

    /// A valid token for `want` (`Token` or `Relogin`), refreshing or logging in as the
    /// lifecycle says. With `wait`, waits for a login to end; without, returns as soon as the
    /// person has something to do.
    pub async fn token(
        self: &Arc<Self>,
        want: Want,
        wait: bool,
        stop: &watch::Receiver<bool>,
    ) -> Result<TokenSet, NotReady> {
        let waiting = if wait { Waiting::ForToken } else { Waiting::No };
        self.token_with(want, waiting, stop, LoginOptions::default())
            .await
    }

    /// `token`, for a person's `login` with its options.
    pub async fn token_with(
        self: &Arc<Self>,
        mut want: Want,
        waiting: Waiting,
        stop: &watch::Receiver<bool>,
        options: LoginOptions,
    ) -> Result<TokenSet, NotReady> {
        let wanted = self
            .switch_browser_login(options)
            .map_err(NotReady::Failed)?;
        for _ in 0..MAX_ROUNDS {
            let (step, flight) = self.step(want, stop, options);
            match step {
                Step::Serve => {
                    if let Some(token) = self.valid_token(SystemTime::now()) {
                        return Ok(token);
                    }
                }
                Step::Fail(message) => return Err(NotReady::Failed(message)),
                Step::Wait(_) => {}
                Step::Refresh | Step::Login | Step::Join { .. } => {
                    let then = match step {
                        Step::Join { then } => then,
                        _ => want.after_flight(),
                    };
                    let Some(flight) = flight else { continue };
                    // The flight's own token is the answer: deciding again could join the
                    // next flight (a refresh right after a login) and wait on it for nothing.
                    match follow(flight, &waiting, wanted.clone()).await? {
                        Ended::Token(token) if then.takes_token() => return Ok(token),
                        Ended::Failed(message) => return Err(NotReady::Failed(message)),
                        Ended::Token(_) | Ended::Again => want = then,
                    }
                }
            }
        }
        Err(NotReady::Failed(format!(
            "sso-session {} could not settle on a token; see the agent's log",
            self.config.name
        )))
    }

    /// A browser login in progress, while it waits for its callback, gives way to what a
    /// joining `login` asks (`--use-device-code`, or `--redirect-port` another port) in the same
    /// flight: everyone waiting on it follows the login that takes its place. What that request
    /// then takes of the pending logins: not the link giving way (nor, for the device code, any
    /// browser link). A port in use is said at once, and the login stays as it is.
    fn switch_browser_login(&self, options: LoginOptions) -> Result<Wanted, String> {
        let mut wanted = Wanted {
            flow: options.use_device_code.then_some(LoginFlow::DeviceCode),
            skip: None,
        };
        let switch = match (options.use_device_code, options.redirect_port) {
            (true, _) => LoginSwitch::ToDeviceCode,
            (false, Some(port)) => LoginSwitch::ToPort(port),
            (false, None) => return Ok(wanted),
        };
        // Probed before the lock: a bind is a syscall, and the lock is the readers'.
        let port_free = match switch {
            LoginSwitch::ToPort(port) => {
                std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)).is_ok()
            }
            _ => true,
        };
        let state = self.state();
        let browser = state
            .login_flow
            .as_ref()
            .is_some_and(|choice| choice.flow == LoginFlow::Browser);
        if !browser || state.life.phase() != super::lifecycle::Phase::LoggingIn {
            return Ok(wanted);
        }
        let current = state
            .flight
            .as_ref()
            .and_then(|flight| match &*flight.borrow() {
                Flight::Pending { login, .. } => Some(login.clone()),
                _ => None,
            });
        if let LoginSwitch::ToPort(port) = switch {
            if current
                .as_ref()
                .is_some_and(|login| login.callback_port == Some(port))
            {
                return Ok(wanted); // already there
            }
            if !port_free {
                return Err(format!(
                    "port {port} is in use on 127.0.0.1, so the browser login of sso-session {} stays on its own port; free the port or choose another with --redirect-port, or finish the login on the link already shown",
                    self.config.name
                ));
            }
        }
        wanted.skip = current.map(|login| login.verification_uri_complete);
        state.switches.send_replace(switch);
        Ok(wanted)
    }

    /// The flow of the current or last login, for `status`.
    pub fn login_flow(&self) -> Option<LoginFlowStatus> {
        self.state()
            .login_flow
            .as_ref()
            .map(|choice| LoginFlowStatus {
                flow: choice.flow,
                reason: choice.reason.clone(),
            })
    }

    /// Takes the lifecycle's next step under the lock, starting the flight it calls for.
    fn step(
        self: &Arc<Self>,
        want: Want,
        stop: &watch::Receiver<bool>,
        options: LoginOptions,
    ) -> (Step, Option<watch::Receiver<Flight>>) {
        let mut state = self.state();
        if state.retired {
            return (Step::Fail(self.retired_message()), None);
        }
        let step = state.life.step(want, SystemTime::now());
        let flight = match step {
            Step::Refresh => Some(self.launch(&mut state, false, stop, options)),
            Step::Login => Some(self.launch(&mut state, true, stop, options)),
            Step::Join { .. } => state.flight.clone(),
            _ => None,
        };
        (step, flight)
    }

    fn launch(
        self: &Arc<Self>,
        state: &mut State,
        login: bool,
        stop: &watch::Receiver<bool>,
        options: LoginOptions,
    ) -> watch::Receiver<Flight> {
        let first = if login {
            Flight::LoggingIn
        } else {
            Flight::Refreshing
        };
        let (sender, receiver) = watch::channel(first);
        state.flight = Some(receiver.clone());
        let slot = self.clone();
        let mut cancelled = state.cancel.subscribe();
        let mut stop = stop.clone();
        let cancel = async move {
            tokio::select! {
                () = super::stopped(&mut stop) => {}
                _ = cancelled.changed() => {}
            }
        };
        let switches = state.switches.subscribe();
        let plan = login.then(|| {
            // Decided per login, from the agent's own environment, now.
            let choice = login_flow::decide(
                state.flow_setting,
                options.use_device_code,
                &FlowEnvironment::current(),
            );
            tracing::info!(session = %self.config.name, flow = %choice.flow, reason = %choice.reason, "starting a login");
            state.login_flow = Some(choice.clone());
            LoginPlan {
                choice,
                browser: crate::oidc::BrowserLogin {
                    redirect_port: options.redirect_port,
                    timeout: crate::oidc::browser_login_timeout(),
                },
            }
        });
        let guard = FlightGuard {
            slot: self.clone(),
            sender,
            login,
            landed: false,
        };
        tokio::spawn(async move {
            if let Some(plan) = plan {
                slot.log_in(guard, plan, options.no_browser, cancel, switches)
                    .await
            } else {
                slot.refresh(guard).await
            }
        });
        receiver
    }

    async fn refresh(self: Arc<Self>, mut guard: FlightGuard) {
        let mut session = self.session.lock().await;
        if self.is_retired() {
            return guard.land(Err(self.retired_message()));
        }
        let outcome = session.refresh().await;
        let now = SystemTime::now();
        let result = {
            let mut state = self.state();
            state.token = session.token().cloned();
            state.unsaved = session.unsaved().map(str::to_string);
            match &outcome {
                Refreshed::Renewed => {
                    let token = state.token.as_ref().map(facts).expect("a renewed token");
                    state.life.refreshed(token, now);
                    Ok(state.token.clone())
                }
                Refreshed::Failed(message) => {
                    state.life.refresh_failed(message.clone(), now);
                    Err(message.clone())
                }
                Refreshed::Rejected(message) => {
                    state.life.refresh_rejected(message.clone());
                    Err(message.clone())
                }
            }
        };
        drop(session);
        guard.land(result);
    }

    async fn log_in(
        self: Arc<Self>,
        mut guard: FlightGuard,
        plan: LoginPlan,
        no_browser: bool,
        cancel: impl std::future::Future<Output = ()>,
        switches: watch::Receiver<LoginSwitch>,
    ) {
        let mut session = self.session.lock().await;
        if self.is_retired() {
            return guard.land(Err(self.retired_message()));
        }
        crate::failpoint::panic_once("login:start");
        // Each code is shown as it comes: a re-registration mid-login brings a second one.
        let (codes, mut shown_codes) = tokio::sync::mpsc::unbounded_channel::<PendingLogin>();
        let login = session.login_as(
            plan,
            move |pending| {
                let _ = codes.send(pending.clone());
            },
            cancel,
            switches,
        );
        let publish = async {
            while let Some(pending) = shown_codes.recv().await {
                self.state().login_flow = Some(FlowChoice {
                    flow: pending.flow,
                    reason: pending.flow_reason.clone(),
                });
                // The one click: the agent opens the authorize page where it runs, since the
                // callback comes back to its own loopback listener.
                let opening = async {
                    if pending.flow == LoginFlow::Browser && !no_browser {
                        let url = &pending.verification_uri_complete;
                        self.notifier.open_browser(&pending.session, url).await
                    } else {
                        false
                    }
                };
                let (opened, shown) = tokio::join!(opening, self.notifier.login_needed(&pending));
                // A page opened on this desktop shows the person the login as a notification
                // does; one that could not open shows nothing.
                let notified = shown || opened;
                guard.send(Flight::Pending {
                    login: pending,
                    notified,
                });
            }
        };
        let (result, ()) = tokio::join!(login, publish);
        let result = {
            let mut state = self.state();
            state.unsaved = session.unsaved().map(str::to_string);
            match &result {
                Ok(()) => {
                    state.token = session.token().cloned();
                    state.login_error = None;
                    let token = state.token.as_ref().map(facts);
                    state.life.login_ended(token);
                }
                Err(err) => {
                    tracing::warn!("{err}");
                    state.login_error = Some(err.to_string());
                    state.life.login_ended(None);
                }
            }
            result
                .map(|()| state.token.clone())
                .map_err(|err| err.to_string())
        };
        drop(session);
        self.notifier.notify(DesktopEvent::LoginEnded {
            session: self.config.name.clone(),
        });
        guard.land(result);
    }

    /// The refresher's round for this session: refresh when due, warn before an unrenewable
    /// end, retry a store write that failed. How long until it should look again.
    pub fn renew(
        self: &Arc<Self>,
        now: SystemTime,
        warn_before: Duration,
        stop: &watch::Receiver<bool>,
    ) -> Duration {
        let (step, _) = self.step(Want::Renew, stop, LoginOptions::default());
        let mut next = match step {
            Step::Wait(wait) => wait,
            _ => MAX_SLEEP,
        };
        let token = self.state().life.token();
        if let Some(token) = token.filter(|token| !token.refreshable) {
            if now + warn_before >= token.expires_at {
                self.warn_once(token.expires_at, token.expires_at);
            }
        }
        if let Some(wait) = self.retry_save_if_due(now) {
            next = next.min(wait);
        }
        next
    }

    /// A failed store write is tried again at once, then after 5 s, doubling to 5 min: a
    /// keyring call is cheap and local, and the tokens are at risk until it is written.
    fn retry_save_if_due(self: &Arc<Self>, now: SystemTime) -> Option<Duration> {
        let mut state = self.state();
        state.unsaved.as_ref()?;
        if let Some(at) = state.next_save_retry {
            if let Ok(wait) = at.duration_since(now) {
                if !wait.is_zero() {
                    return Some(wait);
                }
            }
        }
        state.save_failures += 1;
        let gap = SAVE_RETRY_GAP
            .saturating_mul(1 << state.save_failures.saturating_sub(1).min(6))
            .min(crate::oidc::refresh::MAX_GAP);
        state.next_save_retry = Some(now + gap);
        drop(state);
        let slot = self.clone();
        tokio::spawn(async move {
            // A flight holds the session: it saves on its own, and this round is skipped.
            let Ok(mut session) = slot.session.try_lock() else {
                return;
            };
            if slot.is_retired() {
                return; // the item belongs to the session that replaced this one
            }
            let saved = session.retry_save().await;
            let mut state = slot.state();
            state.unsaved = session.unsaved().map(str::to_string);
            if saved {
                state.save_failures = 0;
                state.next_save_retry = None;
            }
        });
        Some(gap)
    }

    /// Gives the store the newest tokens before the agent stops, if it lacks them.
    pub async fn save_before_stop(&self) {
        // A refresh still out finishes (and saves) first; the SDK's own time limit bounds it.
        let Ok(mut session) =
            tokio::time::timeout(Duration::from_secs(35), self.session.lock()).await
        else {
            return;
        };
        if self.state().unsaved.is_none() || self.is_retired() {
            return;
        }
        session.retry_save().await;
        self.note_unsaved(&session);
    }

    fn warn_once(&self, expires_at: SystemTime, ends: SystemTime) {
        let key = crate::store::time_to_epoch(expires_at);
        {
            let mut state = self.state();
            if state.warned_for == Some(key) {
                return;
            }
            state.warned_for = Some(key);
        }
        self.notifier.notify(DesktopEvent::SessionEnding {
            session: self.config.name.clone(),
            expires_at: ends,
        });
    }

    /// The portal refused `token` (revoked upstream): it is not served again, here or after a
    /// restart; the next request refreshes, and logs in only if that fails.
    pub async fn revoked(&self, token: &TokenSet) {
        {
            let mut state = self.state();
            if !state
                .token
                .as_ref()
                .is_some_and(|current| current.access_token == token.access_token)
            {
                return; // a newer token is here already
            }
            if let Some(current) = &mut state.token {
                current.expires_at = 0;
            }
            state.life.revoked();
        }
        // A flight holding the session brings its own token; otherwise the store learns it too.
        if let Ok(mut session) = self.session.try_lock() {
            if self.is_retired() {
                return;
            }
            session.revoke(&token.access_token).await;
            self.note_unsaved(&session);
        }
    }

    /// Ends the flight in progress and takes the session for good: the config no longer has it
    /// (or has it changed). Returns once no flight can touch its store item any more.
    pub async fn retire(&self) {
        {
            let mut state = self.state();
            state.retired = true;
            state.cancel.send_modify(|generation| *generation += 1);
        }
        let _ = self.session.lock().await;
    }

    fn retired_message(&self) -> String {
        format!(
            "the configuration of sso-session {} changed while this request waited; ask again",
            self.config.name
        )
    }

    pub fn is_retired(&self) -> bool {
        self.state().retired
    }

    /// Whether this slot serves `config` (at `oidc_endpoint`) as the config has it now; if so,
    /// it takes the login-time settings that may have changed (`take_login_settings`).
    pub fn serves(&self, config: &SsoSessionConfig, oidc_endpoint: &str) -> bool {
        let serves = !self.is_retired()
            && self.oidc_endpoint == oidc_endpoint
            && self.config.same_session(config);
        if serves {
            self.take_login_settings(config);
        }
        serves
    }

    /// The keys read at each login (`sso_agent_login_flow`), as the config has them now.
    pub fn take_login_settings(&self, config: &SsoSessionConfig) {
        self.state().flow_setting = config.login_flow;
    }

    /// Forgets the session's tokens (keyring item included); returns the token it had. The
    /// in-memory forgetting always happens; the error is the store's, if it failed.
    pub async fn forget(&self) -> (Option<TokenSet>, Result<(), String>) {
        // A login waiting for a person holds the session: end it first.
        self.state()
            .cancel
            .send_modify(|generation| *generation += 1);
        let mut session = self.session.lock().await;
        let token = {
            let mut state = self.state();
            state.life.logged_out();
            state.login_error = None;
            state.logouts += 1;
            state.token.take()
        }
        .or_else(|| session.token().cloned());
        let result = session.forget().await.map_err(|err| err.to_string());
        self.note_unsaved(&session);
        (token, result)
    }
}

/// Ends a flight whatever happens to its task: a flight that panics (or is dropped) still tells
/// its waiters, and the lifecycle is idle again, instead of a dead channel everyone joins.
struct FlightGuard {
    slot: Arc<SessionSlot>,
    sender: watch::Sender<Flight>,
    login: bool,
    landed: bool,
}

impl FlightGuard {
    fn send(&self, flight: Flight) {
        let _ = self.sender.send(flight);
    }

    fn land(&mut self, result: Result<Option<TokenSet>, String>) {
        self.landed = true;
        let _ = self.sender.send(Flight::Done {
            login: self.login,
            result,
        });
        self.slot.changed.notify_one();
    }
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        if self.landed {
            return;
        }
        let message = format!(
            "the {} of sso-session {} failed unexpectedly; see the agent's log, then try again",
            if self.login { "login" } else { "refresh" },
            self.slot.config.name
        );
        tracing::error!("{message}");
        {
            let mut state = self.slot.state();
            if self.login {
                state.login_error = Some(message.clone());
                state.life.login_ended(None);
            } else {
                state
                    .life
                    .refresh_failed(message.clone(), SystemTime::now());
            }
        }
        let _ = self.sender.send(Flight::Done {
            login: self.login,
            result: Err(message),
        });
        self.slot.changed.notify_one();
    }
}

/// How a followed flight ended, for the caller.
enum Ended {
    /// It brought this token.
    Token(TokenSet),
    /// It brought none, and that is not the caller's answer (a refresh): decide again.
    Again,
    /// A login that failed: its joiners' answer.
    Failed(String),
}

/// What a request that does not wait takes of a pending login: the flow its person asked for,
/// and not the link it asked to give way (that login is about to end).
#[derive(Debug, Clone, Default)]
struct Wanted {
    flow: Option<LoginFlow>,
    skip: Option<String>,
}

impl Wanted {
    fn takes(&self, login: &PendingLogin) -> bool {
        self.flow.is_none_or(|flow| flow == login.flow)
            && self.skip.as_ref() != Some(&login.verification_uri_complete)
    }
}

/// Follows a flight to its end; a login still waiting for a person is `LoginPending` as
/// `waiting` says, if it is the one `wanted` (a browser login giving way to a device-code one,
/// or moving to another port, is waited past).
async fn follow(
    mut flight: watch::Receiver<Flight>,
    waiting: &Waiting,
    wanted: Wanted,
) -> Result<Ended, NotReady> {
    loop {
        let current = flight.borrow_and_update().clone();
        match current {
            Flight::Done { login, result } => {
                return Ok(match (login, result) {
                    (_, Ok(Some(token))) => Ended::Token(token),
                    (true, Err(message)) => Ended::Failed(message),
                    _ => Ended::Again,
                })
            }
            Flight::Pending { login, notified }
                if waiting.answers(&login) && wanted.takes(&login) =>
            {
                return Err(NotReady::LoginPending(info(&login, notified)))
            }
            _ => {}
        }
        if flight.changed().await.is_err() {
            // The guard always sends Done before the sender goes; this is a bug, said plainly.
            return Ok(Ended::Failed("the login ended without an answer".into()));
        }
    }
}

fn facts(token: &TokenSet) -> TokenFacts {
    TokenFacts {
        expires_at: epoch_to_time(token.expires_at),
        refreshable: token.refresh_token.is_some(),
    }
}

pub fn info(pending: &PendingLogin, notified: bool) -> PendingLoginInfo {
    PendingLoginInfo {
        session: pending.session.clone(),
        verification_uri: pending.verification_uri.clone(),
        verification_uri_complete: pending.verification_uri_complete.clone(),
        user_code: pending.user_code.clone(),
        expires_in: pending.time_left(SystemTime::now()).as_secs(),
        notified,
        flow: pending.flow,
        flow_reason: pending.flow_reason.clone(),
    }
}

/// How long the refresher sleeps between rounds at most (wall-clock jumps are caught by then).
pub const REFRESH_ROUND: Duration = MAX_SLEEP;
