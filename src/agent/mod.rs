//! The agent: sessions, role credentials and the requests that reach them over the socket.

mod activation;
mod config_cache;
mod credentials;
pub mod daemon;
mod login;
mod logout;
mod roles;
pub mod server;
mod sessions;
mod status;

use crate::config::SsoSessionConfig;
use crate::notify::Notifier;
use crate::protocol::{ErrorKind, Request, Response};
use crate::session::Session;
use crate::store::{CountingStore, OpenedStore};
use config_cache::ConfigCache;
use roles::{CachedCredentials, RoleCache};
use sessions::SessionSlot;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// What a request gets back: a message, or credentials already encoded.
pub enum Reply {
    Message(Response),
    Encoded(Arc<CachedCredentials>),
}

impl From<Response> for Reply {
    fn from(response: Response) -> Self {
        Reply::Message(response)
    }
}

pub fn error(kind: ErrorKind, message: impl Into<String>) -> Reply {
    Reply::Message(Response::Error {
        kind,
        message: message.into(),
    })
}

#[derive(Clone)]
struct RegionClients {
    oidc: aws_sdk_ssooidc::Client,
    sso: aws_sdk_sso::Client,
}

pub struct Agent {
    store: Arc<CountingStore>,
    passed_over: Vec<String>,
    config: ConfigCache,
    sessions: Mutex<HashMap<String, Arc<SessionSlot>>>,
    roles: RoleCache,
    clients: tokio::sync::Mutex<HashMap<String, RegionClients>>,
    notifier: Arc<dyn Notifier>,
    /// Signalled when a session's login ends: the refresher looks again at once.
    sessions_changed: Arc<tokio::sync::Notify>,
    stop: watch::Sender<bool>,
}

impl Agent {
    pub fn new(opened: OpenedStore, notifier: Arc<dyn Notifier>) -> Arc<Self> {
        Arc::new(Self {
            store: Arc::new(CountingStore::new(opened.store)),
            passed_over: opened.passed_over,
            config: ConfigCache::new(),
            sessions: Mutex::new(HashMap::new()),
            roles: RoleCache::default(),
            clients: tokio::sync::Mutex::new(HashMap::new()),
            notifier,
            sessions_changed: Arc::new(tokio::sync::Notify::new()),
            stop: watch::channel(false).0,
        })
    }

    /// Opens every configured sso-session now: the one keyring read each gets, at start.
    pub async fn open_configured_sessions(&self) {
        let sessions = match self
            .config
            .current()
            .await
            .and_then(|config| config.sso_sessions())
        {
            Ok(sessions) => sessions,
            Err(err) => {
                tracing::warn!("{err}");
                return;
            }
        };
        for config in sessions {
            if let Err(message) = self.session(&config).await {
                tracing::warn!("{message}");
            }
        }
    }

    /// Starts (or joins) the login of an open session: the desktop's "Log in now".
    pub fn start_login(&self, session: &str) {
        match self.open_slot(session) {
            Some(slot) => {
                slot.start_or_join_login(&self.stopping(), true);
            }
            None => tracing::warn!("no session {session} to log in to"),
        }
    }

    /// Ends logins in progress (at shutdown).
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }
}

/// Completes once `stop` turns true (or its sender is gone).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

impl Agent {
    async fn clients(&self, region: &str) -> RegionClients {
        let mut clients = self.clients.lock().await;
        if let Some(existing) = clients.get(region) {
            return existing.clone();
        }
        let sdk = crate::aws_sdk::sdk_config(region).await;
        config_cache::release_freed_memory();
        let created = RegionClients {
            oidc: aws_sdk_ssooidc::Client::new(&sdk),
            sso: aws_sdk_sso::Client::new(&sdk),
        };
        clients.insert(region.to_string(), created.clone());
        created
    }

    /// The session's slot, opened (one store read) the first time it is needed, and again if
    /// its configuration changed.
    async fn session(&self, config: &SsoSessionConfig) -> Result<Arc<SessionSlot>, String> {
        if let Some(slot) = self.lock_sessions().get(&config.name) {
            if slot.config == *config {
                return Ok(slot.clone());
            }
        }
        let clients = self.clients(&config.region).await;
        let session = Session::open(config.clone(), self.store.clone(), clients.oidc)
            .await
            .map_err(|err| err.to_string())?;
        let mut sessions = self.lock_sessions();
        match sessions.get(&config.name) {
            // Opened by a concurrent request meanwhile: keep that one.
            Some(slot) if slot.config == *config => Ok(slot.clone()),
            _ => {
                let slot = Arc::new(SessionSlot::new(
                    session,
                    self.notifier.clone(),
                    self.sessions_changed.clone(),
                ));
                sessions.insert(config.name.clone(), slot.clone());
                Ok(slot)
            }
        }
    }

    fn lock_sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<SessionSlot>>> {
        self.sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The slot of a session already opened.
    fn open_slot(&self, name: &str) -> Option<Arc<SessionSlot>> {
        self.lock_sessions().get(name).cloned()
    }

    fn slots(&self) -> Vec<Arc<SessionSlot>> {
        let mut slots: Vec<_> = self.lock_sessions().values().cloned().collect();
        slots.sort_by(|a, b| a.config.name.cmp(&b.config.name));
        slots
    }

    pub async fn handle(self: &Arc<Self>, request: Request) -> Reply {
        match request {
            Request::Credentials { profile, wait } => {
                credentials::handle(self, &profile, wait).await
            }
            Request::Login { session, profile } => login::start(self, session, profile).await,
            Request::AwaitLogin { session } => login::wait(self, &session).await,
            Request::Status => status::handle(self).await,
            Request::Logout { session, all } => logout::handle(self, session, all).await,
        }
    }

    /// Keeps every session's token fresh until the agent stops: refresh when due, re-deciding at
    /// least once a minute against the wall clock.
    pub async fn refresh_sessions(self: Arc<Self>) {
        let mut stop = self.stopping();
        let warn_before = crate::notify::warn_before();
        loop {
            let mut next = sessions::REFRESH_ROUND;
            for slot in self.slots() {
                use crate::session::RefreshOutcome::*;
                match slot.refresh_if_due(SystemTime::now(), warn_before).await {
                    Some(NotDue(wait) | RetryLater(wait)) => next = next.min(wait),
                    Some(Refreshed) | Some(NeedsLogin) | None => {}
                }
            }
            tokio::select! {
                () = tokio::time::sleep(next.max(Duration::from_secs(1))) => {}
                () = self.sessions_changed.notified() => {}
                () = stopped(&mut stop) => return,
            }
        }
    }
}
