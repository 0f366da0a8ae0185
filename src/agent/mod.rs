//! The agent: sessions, role credentials and the requests that reach them over the socket.

mod accounts;
mod activation;
mod config_cache;
pub mod container;
mod credentials;
pub mod daemon;
mod forward;
mod import_cli_cache;
mod license;
pub mod lifecycle;
mod login;
mod logout;
mod roles;
pub mod server;
mod slot;
mod status;

use crate::config::SsoSessionConfig;
use crate::notify::Notifier;
use crate::protocol::{ErrorKind, Request, Response};
use crate::session::Session;
use crate::store::{CountingStore, OpenedStore};
use config_cache::ConfigCache;
use roles::{CachedCredentials, RoleCache};
use slot::SessionSlot;
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
    /// Unsigned: GetAccessToken only (the refresh token is its credential).
    license_manager: aws_sdk_licensemanager::Client,
    sts: aws_sdk_sts::Client,
    /// The sso-oidc endpoint `oidc` calls, which a session's stored tokens are tied to.
    oidc_endpoint: String,
}

/// The SDK clients per region, built from one reading of the config file: an edit of its
/// endpoints (a `services` section) builds them again.
#[derive(Default)]
struct Clients {
    built_from: Option<Arc<crate::config::ConfigIndex>>,
    regions: HashMap<String, RegionClients>,
}

pub struct Agent {
    store: Arc<CountingStore>,
    passed_over: Vec<String>,
    config: ConfigCache,
    sessions: Mutex<HashMap<String, Arc<SessionSlot>>>,
    /// Held while a session is opened or replaced.
    /// One per session name: sessions open (and a stuck keyring stalls) one at a time each, not
    /// all behind one another.
    opening: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Why a session last failed to open (the store), until it opens.
    open_failures: Mutex<HashMap<String, String>>,
    roles: RoleCache,
    /// License Manager profiles, by name, each opened (one keyring read) when first needed.
    licenses: Mutex<HashMap<String, Arc<license::LicenseSlot>>>,
    /// Held while a License Manager profile's item is read.
    license_opening: tokio::sync::Mutex<()>,
    /// The container-credentials endpoint and its grants (listening from the first grant).
    container: container::ContainerEndpoint,
    clients: tokio::sync::Mutex<Clients>,
    notifier: Arc<dyn Notifier>,
    /// Forward sockets open now (`forward_open`), bounded by `forward::MAX_FORWARDS`.
    forwards: std::sync::atomic::AtomicUsize,
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
            opening: Mutex::new(HashMap::new()),
            open_failures: Mutex::new(HashMap::new()),
            roles: RoleCache::default(),
            licenses: Mutex::new(HashMap::new()),
            license_opening: tokio::sync::Mutex::new(()),
            container: container::ContainerEndpoint::default(),
            clients: tokio::sync::Mutex::new(Clients::default()),
            notifier,
            forwards: std::sync::atomic::AtomicUsize::new(0),
            sessions_changed: Arc::new(tokio::sync::Notify::new()),
            stop: watch::channel(false).0,
        })
    }

    /// Opens every configured sso-session now: the one keyring read each gets, at start.
    /// One broken session does not keep the others closed: each opens on its own, and one that
    /// cannot is shown in `status` with its error.
    pub async fn open_configured_sessions(&self) {
        let config = match self.config.current().await {
            Ok(config) => config,
            Err(err) => {
                tracing::warn!("{err}");
                return;
            }
        };
        for (_, session) in config.sso_sessions_each() {
            let opened = match session {
                Ok(session) => self.session(&session).await.map(|_| ()),
                Err(err) => Err(err.to_string()),
            };
            if let Err(message) = opened {
                tracing::warn!("{message}");
            }
        }
        license::open_configured(self).await;
    }

    fn lock_licenses(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, Arc<license::LicenseSlot>>> {
        self.licenses
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sessions the config names that are not open, each with why: a broken `[sso-session]`, or
    /// a store that would not open it.
    async fn unopened_sessions(&self) -> Vec<(String, String)> {
        let Ok(config) = self.config.current().await else {
            return Vec::new();
        };
        let open = self.lock_sessions();
        let failed = self.lock_open_failures();
        config
            .sso_sessions_each()
            .into_iter()
            .filter(|(name, _)| !open.contains_key(name))
            .filter_map(|(name, session)| match session {
                Err(err) => Some((name, err.to_string())),
                Ok(_) => failed.get(&name).map(|why| (name, why.clone())),
            })
            .collect()
    }

    fn lock_open_failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.open_failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts (or joins) the login of an open session: the desktop's "Log in now".
    pub fn start_login(self: &Arc<Self>, session: &str) {
        let Some(slot) = self.open_slot(session) else {
            tracing::warn!("no session {session} to log in to");
            return;
        };
        let stop = self.stopping();
        tokio::spawn(async move {
            let _ = slot.token(lifecycle::Want::Relogin, true, &stop).await;
        });
    }

    /// Ends logins in progress (at shutdown).
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Gives the store whatever it lacks (a write that failed) before the agent exits; bounded by
    /// the store's own time limit per session.
    pub async fn save_before_stop(&self) {
        for slot in self.slots() {
            slot.save_before_stop().await;
        }
    }

    fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }
}

/// Two names of one file (a symlink, `..`); a path that does not exist is only equal to itself.
fn same_file(a: &str, b: &str) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Completes once `stop` turns true (or its sender is gone).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

impl Agent {
    async fn clients(&self, region: &str) -> RegionClients {
        let config = self.config.current().await.ok();
        let mut clients = self.clients.lock().await;
        let same_file = match (&clients.built_from, &config) {
            (Some(built), Some(current)) => Arc::ptr_eq(built, current),
            (None, None) => true,
            _ => false,
        };
        if !same_file {
            clients.regions.clear();
            clients.built_from = config;
        }
        if let Some(existing) = clients.regions.get(region) {
            return existing.clone();
        }
        let sdk = crate::aws_sdk::sdk_config(region).await;
        config_cache::release_freed_memory();
        let created = RegionClients {
            oidc: aws_sdk_ssooidc::Client::new(&sdk),
            sso: aws_sdk_sso::Client::new(&sdk),
            license_manager: crate::license::upstream::unsigned_client(&sdk),
            sts: aws_sdk_sts::Client::new(&sdk),
            oidc_endpoint: crate::aws_sdk::oidc_endpoint(&sdk, region),
        };
        clients.regions.insert(region.to_string(), created.clone());
        created
    }

    /// The session's slot, opened (one store read) the first time it is needed, and again if
    /// its configuration changed.
    async fn session(&self, config: &SsoSessionConfig) -> Result<Arc<SessionSlot>, String> {
        // One opening at a time per session: two requests never open two Sessions over one
        // keyring item.
        let opening = self
            .opening
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(config.name.clone())
            .or_default()
            .clone();
        let _opening = opening.lock().await;
        let existing = self.lock_sessions().get(&config.name).cloned();
        let clients = self.clients(&config.region).await;
        if let Some(slot) = existing {
            if slot.serves(config, &clients.oidc_endpoint) {
                return Ok(slot);
            }
            // The config changed: the old slot lets go of the item before the new one reads it.
            slot.retire().await;
            self.roles.forget_session(&config.name);
        }
        let session = match Session::open(
            config.clone(),
            self.store.clone(),
            clients.oidc,
            &clients.oidc_endpoint,
        )
        .await
        {
            Ok(session) => session,
            Err(err) => {
                let message = err.to_string();
                self.lock_open_failures()
                    .insert(config.name.clone(), message.clone());
                return Err(message);
            }
        };
        self.lock_open_failures().remove(&config.name);
        let mut sessions = self.lock_sessions();
        match sessions.get(&config.name) {
            Some(slot) if slot.serves(config, &clients.oidc_endpoint) => Ok(slot.clone()),
            _ => {
                let slot = Arc::new(SessionSlot::new(
                    session,
                    &clients.oidc_endpoint,
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

    /// Sessions the config no longer has stop refreshing, and their cached roles go: an edit
    /// of the file while the agent runs takes effect without a restart.
    pub(crate) async fn retire_unconfigured(&self) {
        let Ok(config) = self.config.current().await else {
            return; // a file that does not parse now retires nothing
        };
        for slot in self.slots() {
            // A legacy session (named by its start URL) is found while a profile names it.
            let wanted = config.sso_session(&slot.config.name).ok();
            if let Some(wanted) = &wanted {
                if slot.config.same_session(wanted) {
                    // Login-time settings (the flow) are taken without dropping the session.
                    slot.take_login_settings(wanted);
                    continue;
                }
            }
            tracing::info!(session = %slot.config.name, "the session left the config or changed; it is no longer refreshed");
            slot.retire().await;
            self.roles.forget_session(&slot.config.name);
            {
                let mut sessions = self.lock_sessions();
                if sessions
                    .get(&slot.config.name)
                    .is_some_and(|current| Arc::ptr_eq(current, &slot))
                {
                    sessions.remove(&slot.config.name);
                }
            }
            // The AWS CLI cache file: a session whose key changed opens again at once, so the
            // export starts (or its file goes) now rather than at its next request; a session
            // that left the config leaves no file of its tokens behind.
            match &wanted {
                Some(wanted) if wanted.cli_cache != slot.config.cli_cache => {
                    if let Err(message) = self.session(wanted).await {
                        tracing::warn!("{message}");
                    }
                }
                None if slot.config.cli_cache => {
                    crate::cli_cache::export::left(&slot.config.name, slot.token_snapshot()).await
                }
                _ => {}
            }
        }
    }

    fn slots(&self) -> Vec<Arc<SessionSlot>> {
        let mut slots: Vec<_> = self.lock_sessions().values().cloned().collect();
        slots.sort_by(|a, b| a.config.name.cmp(&b.config.name));
        slots
    }

    /// Whether this agent serves the config file a request names (`None`: any). An agent
    /// autostarted from one shell keeps that shell's `AWS_CONFIG_FILE`; a caller with another
    /// file is told so, not answered from the wrong file.
    pub fn serves_config(&self, wanted: Option<&str>, request: &Request) -> Result<(), Box<Reply>> {
        if matches!(request, Request::Stop | Request::Status) {
            return Ok(());
        }
        let Some(wanted) = wanted else { return Ok(()) };
        let served = self.config.path();
        if wanted == served || same_file(wanted, served) {
            return Ok(());
        }
        Err(Box::new(error(
            ErrorKind::Config,
            format!(
                "the agent on this socket serves {served}, not {wanted} (AWS_CONFIG_FILE differs); use the same AWS_CONFIG_FILE, or run a second agent for this file with its own socket: SSO_AGENT_SOCKET=<private dir>/agent.sock sso-agent daemon, with SSO_AGENT_SOCKET set for its callers too"
            ),
        )))
    }

    pub async fn handle(self: &Arc<Self>, request: Request) -> Reply {
        self.handle_from(request, None).await
    }

    /// `handle`, for a caller on a connection (a grant may be tied to its process).
    pub async fn handle_from(
        self: &Arc<Self>,
        request: Request,
        caller: Option<container::Caller<'_>>,
    ) -> Reply {
        match request {
            Request::Credentials { profile, wait } => {
                credentials::handle(self, &profile, wait).await
            }
            Request::Login {
                session,
                profile,
                force,
                use_device_code,
                redirect_port,
                no_browser,
            } => {
                let options = slot::LoginOptions {
                    use_device_code,
                    // Port 0 is "any port", which is what no port asks for.
                    redirect_port: redirect_port.filter(|port| *port != 0),
                    no_browser,
                };
                login::start(self, session, profile, force, options).await
            }
            Request::AwaitLogin { session, shown } => login::wait(self, &session, shown).await,
            Request::Status => status::handle(self).await,
            Request::Logout {
                session,
                profile,
                all,
            } => logout::handle(self, session, profile, all).await,
            // The server answers `stop` itself (it owns the shutdown), with the status.
            Request::Stop => status::handle(self).await,
            Request::ContainerGrant {
                profile,
                ttl_seconds,
                for_caller,
            } => container::grant(self, &profile, ttl_seconds, for_caller, caller).await,
            Request::ContainerRevoke { profile } => container::revoke(self, &profile).await,
            Request::LicenseImport {
                profile,
                token,
                source_profile,
            } => license::import(self, &profile, token, source_profile).await,
            Request::LicenseForget { profile } => license::forget(self, &profile).await,
            Request::Profile { profile } => self.profile_info(&profile).await,
            Request::AccountRoles { session, wait } => accounts::handle(self, session, wait).await,
            Request::ImportCliCache { session } => import_cli_cache::handle(self, session).await,
            Request::ForwardOpen { confirm, label } => forward::open(self, confirm, &label, caller),
        }
    }

    /// `Request::Profile`: the profile's region and what `[default]` holds, from the index.
    async fn profile_info(&self, name: &str) -> Reply {
        let index = match self.config.current().await {
            Ok(index) => index,
            Err(err) => return error(ErrorKind::Config, err.to_string()),
        };
        // A License Manager profile's `region` is its license's home Region.
        let region = match index.license_profile(name) {
            Some(license) => license.map(|license| Some(license.profile.region.clone())),
            None => index.profile(name).map(|profile| profile.region),
        };
        match region {
            Ok(region) => Response::Profile(crate::protocol::ProfileInfo {
                region,
                default_source: index.default_profile_source().map(str::to_string),
            })
            .into(),
            Err(err) => error(ErrorKind::Config, err.to_string()),
        }
    }

    /// Keeps every session's token fresh until the agent stops: refresh when due, re-deciding at
    /// least once a minute against the wall clock.
    pub async fn refresh_sessions(self: Arc<Self>) {
        let mut stop = self.stopping();
        let warn_before = crate::notify::warn_before();
        loop {
            self.retire_unconfigured().await;
            let mut next = slot::REFRESH_ROUND;
            for slot in self.slots() {
                next = next.min(slot.renew(SystemTime::now(), warn_before, &stop));
            }
            tokio::select! {
                () = tokio::time::sleep(next.max(Duration::from_secs(1))) => {}
                () = self.sessions_changed.notified() => {}
                () = stopped(&mut stop) => return,
            }
        }
    }
}
