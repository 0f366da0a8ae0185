//! One sso-session: its record in the store, its login, and keeping its token alive.
//! The store is read once, when the session opens; afterwards it is only written.

use crate::config::SsoSessionConfig;
use crate::login_flow::{FlowChoice, LoginFlow};
use crate::oidc::refresh::{decide, Attempts, RefreshDecision};
use crate::oidc::{self, LoginError, PendingLogin, RefreshFailure};
use crate::oidc::{BrowserEnd, BrowserLogin, LoginSwitch};
use crate::store::{epoch_to_time, RecordWriter, SessionRecord, StoreError, TokenSet, TokenStore};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

pub struct Session {
    config: SsoSessionConfig,
    writer: RecordWriter,
    oidc: aws_sdk_ssooidc::Client,
    record: SessionRecord,
    attempts: Attempts,
    /// Why the last refresh failed, while it keeps failing.
    last_error: Option<String>,
    /// Why the store lacks the newest record, while it does.
    unsaved: Option<String>,
}

/// How one login runs: the flow chosen (and why), and the browser login's listener and wait.
#[derive(Debug, Clone)]
pub struct LoginPlan {
    pub choice: FlowChoice,
    pub browser: BrowserLogin,
}

/// What `refresh_if_due` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Nothing to do yet; ask again after this long.
    NotDue(Duration),
    Refreshed,
    /// A refresh failed in a way worth retrying; ask again after this long.
    RetryLater(Duration),
    /// No refresh token, or it was rejected: the session needs a new login.
    NeedsLogin,
}

/// What one refresh attempt (`refresh`) came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refreshed {
    Renewed,
    /// The service refused the refresh token, or there was none: only a login helps.
    Rejected(String),
    /// No usable answer (network, server error, throttling): worth another try later.
    Failed(String),
}

impl Session {
    /// Opens the session, reading its record from the store (the only read). `endpoint` is the
    /// sso-oidc endpoint `oidc` calls (`aws_sdk::oidc_endpoint`).
    pub async fn open(
        config: SsoSessionConfig,
        store: Arc<dyn TokenStore>,
        oidc: aws_sdk_ssooidc::Client,
        endpoint: &str,
    ) -> Result<Self, LoginError> {
        let writer = RecordWriter::new(store, &config.name);
        let stored = match writer.load().await {
            Ok(stored) => stored,
            // A damaged item is not a reason to be stuck: a login replaces it, a logout removes it.
            Err(err @ StoreError::Corrupt { .. }) => {
                tracing::warn!("{err}");
                None
            }
            Err(err) => return Err(err.into()),
        };
        let record = stored
            // A record for another start URL or region (the config changed) is not this session's.
            .filter(|record| record.start_url == config.start_url && record.region == config.region)
            .filter(|record| issued_by(record, endpoint, &config.name))
            .unwrap_or_else(|| SessionRecord::new(&config.start_url, &config.region));
        let mut session = Self {
            config,
            writer,
            oidc,
            record: SessionRecord {
                oidc_endpoint: Some(endpoint.to_string()),
                ..record
            },
            attempts: Attempts::default(),
            last_error: None,
            unsaved: None,
        };
        session.open_cli_cache().await;
        Ok(session)
    }

    /// The AWS CLI's cache file as the session opens: a newer login there (refreshed through it
    /// while the agent was not running) becomes the session's instead of being overwritten;
    /// otherwise the file follows the record (`export::opened`), and the store learns whether
    /// the file is now the agent's.
    async fn open_cli_cache(&mut self) {
        if self.take_newer_from_cli_cache().await {
            return;
        }
        let exported = crate::cli_cache::export::opened(&self.config, &self.record).await;
        if let Some(exported) = exported.filter(|e| *e != self.record.cli_cache_exported) {
            self.record.cli_cache_exported = exported;
            let result = self.writer.write(Some(self.record.clone())).await;
            self.note_saved(&result);
        }
    }

    /// With `sso_agent_cli_cache = true`: takes the file's login if it is newer than the
    /// session's token (`Session::adopt`, as an import does); true if it did.
    async fn take_newer_from_cli_cache(&mut self) -> bool {
        let newer =
            crate::cli_cache::export::newer_login(&self.config, self.record.token.as_ref()).await;
        let Some((token, registration)) = newer else {
            return false;
        };
        tracing::info!(session = %self.config.name, "took the newer token in the AWS CLI's cache file (a refresh made through it) instead of overwriting it");
        self.adopt(token, registration).await;
        true
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn config(&self) -> &SsoSessionConfig {
        &self.config
    }

    pub fn token(&self) -> Option<&TokenSet> {
        self.record.token.as_ref()
    }

    /// Why the last refresh failed, while refreshes keep failing.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Whether the session has an access token that has not expired at `now`.
    pub fn is_logged_in(&self, now: SystemTime) -> bool {
        self.token()
            .is_some_and(|token| epoch_to_time(token.expires_at) > now)
    }

    /// Logs in with the device-authorization grant and stores the tokens (`login_as` with the
    /// device code, never switched).
    pub async fn login(
        &mut self,
        on_pending: impl FnMut(&PendingLogin) + Send,
        cancel: impl Future<Output = ()>,
    ) -> Result<(), LoginError> {
        let plan = LoginPlan {
            choice: FlowChoice {
                flow: LoginFlow::DeviceCode,
                reason: "the device code was asked for".into(),
            },
            browser: BrowserLogin {
                redirect_port: None,
                timeout: oidc::DEFAULT_TIMEOUT,
            },
        };
        // Nobody can switch this login: the sender goes at once.
        let switches = watch::channel(LoginSwitch::Stay).1;
        self.login_as(plan, on_pending, cancel, switches).await
    }

    /// Logs in with the flow `plan` chose and stores the tokens. A registration the service no
    /// longer knows is replaced once. Each code or authorize URL is handed to `on_pending` with
    /// the flow and its reason (a second one too: after a re-registration, or a switch).
    /// A switch on `switches` while a browser login waits for its callback ends it, and a
    /// device login (`--use-device-code`) or a browser login on another port (`--redirect-port`)
    /// takes its place.
    /// A store that fails to save the tokens does not fail the login: see `unsaved`.
    pub async fn login_as(
        &mut self,
        plan: LoginPlan,
        mut on_pending: impl FnMut(&PendingLogin) + Send,
        cancel: impl Future<Output = ()>,
        mut switches: watch::Receiver<LoginSwitch>,
    ) -> Result<(), LoginError> {
        let mut cancel = std::pin::pin!(cancel);
        let mut choice = plan.choice;
        let mut browser = plan.browser;
        let mut reregistered = false;
        loop {
            let registration = self.registration(choice.flow).await?;
            let reason = choice.reason.clone();
            let mut announce = |pending: &PendingLogin| {
                on_pending(&PendingLogin {
                    flow_reason: reason.clone(),
                    ..pending.clone()
                })
            };
            let result = match choice.flow {
                LoginFlow::DeviceCode => {
                    oidc::device_login(
                        &self.oidc,
                        &self.config.name,
                        &self.config.start_url,
                        &registration,
                        &mut announce,
                        &mut cancel,
                    )
                    .await
                }
                LoginFlow::Browser => {
                    let endpoint =
                        self.record.oidc_endpoint.clone().unwrap_or_else(|| {
                            crate::aws_sdk::aws_oidc_endpoint(&self.config.region)
                        });
                    let target = oidc::AuthorizeTarget {
                        session: &self.config.name,
                        endpoint: &endpoint,
                        scopes: &self.config.registration_scopes,
                    };
                    let ended = oidc::browser_login(
                        &self.oidc,
                        target,
                        &registration,
                        browser,
                        &mut announce,
                        &mut cancel,
                        &mut switches,
                    )
                    .await;
                    match ended {
                        Ok(BrowserEnd::Token(token)) => Ok(token),
                        Ok(BrowserEnd::Switched(LoginSwitch::ToPort(port))) => {
                            tracing::info!(session = %self.config.name, port, "the browser login starts again on the port asked for (--redirect-port)");
                            browser.redirect_port = Some(port);
                            continue;
                        }
                        Ok(BrowserEnd::Switched(_)) => {
                            tracing::info!(session = %self.config.name, "the browser login gives way to a device-code login (--use-device-code)");
                            choice = FlowChoice {
                                flow: LoginFlow::DeviceCode,
                                reason: "--use-device-code".into(),
                            };
                            continue;
                        }
                        Err(err) => Err(err),
                    }
                }
            };
            match result {
                Ok(token) => {
                    // The client and the tokens it got go together (a refresh token is bound
                    // to its client).
                    self.record.registration = Some(registration);
                    self.record.token = Some(token);
                    self.attempts = Attempts::default();
                    self.last_error = None;
                    self.save().await;
                    return Ok(());
                }
                Err(LoginError::Refused { code, .. })
                    if code == "InvalidClientException" && !reregistered =>
                {
                    tracing::warn!(session = %self.config.name, "the client registration was rejected; registering again");
                    reregistered = true;
                    self.record.registration = None;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// The stored registration while it is usable for `flow`, else a new one. A new one is stored
    /// before use only if no refresh token depends on the old one: a login that fails must not
    /// leave a refreshable token paired with a client that did not issue it.
    async fn registration(
        &mut self,
        flow: LoginFlow,
    ) -> Result<crate::store::Registration, LoginError> {
        if let Some(registration) = &self.record.registration {
            if oidc::registration_is_usable(registration, &self.config, flow, SystemTime::now()) {
                return Ok(registration.clone());
            }
        }
        let registration = oidc::register(&self.oidc, &self.config, flow).await?;
        let refreshable = self
            .record
            .token
            .as_ref()
            .is_some_and(|token| token.refresh_token.is_some());
        if !refreshable {
            self.record.registration = Some(registration.clone());
            self.save().await;
        }
        Ok(registration)
    }

    /// Refreshes the access token if the refresh policy says it is time (at `now`, wall clock).
    /// The agent decides with its own lifecycle and calls `refresh`; this is the same policy
    /// for a caller that keeps no state of its own.
    pub async fn refresh_if_due(&mut self, now: SystemTime) -> Result<RefreshOutcome, LoginError> {
        let Some(token) = self.record.token.clone() else {
            return Ok(RefreshOutcome::NeedsLogin);
        };
        match decide(now, &token, self.attempts) {
            RefreshDecision::Wait(wait) => return Ok(RefreshOutcome::NotDue(wait)),
            RefreshDecision::CannotRefresh { .. } => return Ok(RefreshOutcome::NeedsLogin),
            RefreshDecision::RefreshNow => {}
        }
        match self.refresh().await {
            Refreshed::Renewed => {
                // Even a success waits the minimum gap before the next attempt: a service that
                // issues tokens shorter than the refresh window must not be asked every second.
                self.attempts = Attempts {
                    last: Some(now),
                    failures: 0,
                };
                Ok(RefreshOutcome::Refreshed)
            }
            Refreshed::Rejected(_) => Ok(RefreshOutcome::NeedsLogin),
            Refreshed::Failed(_) => {
                self.attempts.failed(now);
                match decide(now, &token, self.attempts) {
                    RefreshDecision::Wait(wait) => Ok(RefreshOutcome::RetryLater(wait)),
                    _ => Ok(RefreshOutcome::RetryLater(crate::oidc::refresh::MIN_GAP)),
                }
            }
        }
    }

    /// One refresh with the refresh token, now. A rotated refresh token is in the store before
    /// this returns, unless the store fails (then it is kept in memory: see `unsaved`).
    pub async fn refresh(&mut self) -> Refreshed {
        let (Some(token), Some(registration)) =
            (self.record.token.clone(), self.record.registration.clone())
        else {
            return Refreshed::Rejected("the session has no refresh token".into());
        };
        if token.refresh_token.is_none() {
            return Refreshed::Rejected("the session has no refresh token".into());
        }
        // The AWS CLI may have refreshed through the file: its newer token is the renewal, and
        // the agent's refresh token may be the one that refresh rotated away.
        if self.take_newer_from_cli_cache().await {
            return Refreshed::Renewed;
        }
        crate::failpoint::hit("refresh:before-call");
        match oidc::refresh(&self.oidc, &self.config.name, &registration, &token).await {
            Ok(renewed) => {
                crate::failpoint::hit("refresh:after-answer");
                self.record.token = Some(renewed);
                self.last_error = None;
                self.save().await;
                crate::failpoint::hit("refresh:after-save");
                tracing::info!(session = %self.config.name, "refreshed the access token");
                Refreshed::Renewed
            }
            Err(RefreshFailure::Rejected(err)) => {
                // botocore may have refreshed through the file while this call was under way,
                // rotating the refresh token it used: its login is the renewal, not a loss.
                if self.take_newer_from_cli_cache().await {
                    return Refreshed::Renewed;
                }
                tracing::warn!("{err}");
                self.last_error = Some(err.to_string());
                self.record.token = None;
                self.save().await;
                Refreshed::Rejected(err.to_string())
            }
            Err(RefreshFailure::Transient(err)) => {
                tracing::warn!("refresh failed, will retry: {err}");
                self.last_error = Some(format!("refresh failed, retrying: {err}"));
                Refreshed::Failed(err.to_string())
            }
        }
    }

    /// The service revoked `access_token` (the portal said Unauthorized): it is expired from now
    /// on, here and in the store; its refresh token, if any, is kept for a refresh.
    pub async fn revoke(&mut self, access_token: &crate::secret::Secret) {
        let Some(token) = &mut self.record.token else {
            return;
        };
        if token.access_token != *access_token {
            return; // already replaced by a newer one
        }
        token.expires_at = 0;
        self.save().await;
    }

    /// Removes the session's tokens from memory and the store (after a logout). The registration
    /// stays in memory for the next login. A store that does not answer gets the removal later.
    pub async fn forget(&mut self) -> Result<(), LoginError> {
        let token = self.record.token.take();
        let exported = std::mem::take(&mut self.record.cli_cache_exported);
        crate::cli_cache::export::logged_out(&self.config, token, exported).await;
        let result = self.writer.write(None).await;
        self.note_saved(&result);
        result.map_err(LoginError::from)
    }

    /// Why the store lacks the newest record, while it does.
    pub fn unsaved(&self) -> Option<&str> {
        self.unsaved.as_deref()
    }

    /// Tries again to give the store the newest record; true once it has it.
    pub async fn retry_save(&mut self) -> bool {
        let result = self.writer.flush().await;
        self.note_saved(&result);
        result.is_ok()
    }

    /// Writes the record. A failure is logged and kept for `status`; the record stays in memory
    /// and `retry_save` writes it later: the session goes on either way.
    /// The AWS CLI's cache file (with the key on) is written first, so the record says whether
    /// the file is the agent's (`cli_cache_exported`).
    async fn save(&mut self) {
        if let Some(exported) =
            crate::cli_cache::export::record_changed(&self.config, &self.record).await
        {
            self.record.cli_cache_exported = exported;
        }
        let result = self.writer.write(Some(self.record.clone())).await;
        self.note_saved(&result);
    }

    /// Takes a login made elsewhere (the AWS CLI's cache file) as this session's: its token and,
    /// when it has one, its registration, stored as a login's are.
    pub async fn adopt(
        &mut self,
        token: TokenSet,
        registration: Option<crate::store::Registration>,
    ) {
        if registration.is_some() {
            self.record.registration = registration;
        }
        self.record.token = Some(token);
        // The file now holds a login the agent did not write: with the key off it is never the
        // agent's to remove (with it on, `save` writes the file and marks it again).
        self.record.cli_cache_exported = false;
        self.attempts = Attempts::default();
        self.last_error = None;
        self.save().await;
    }

    fn note_saved(&mut self, result: &Result<(), StoreError>) {
        match result {
            Ok(()) if !self.writer.pending() => {
                if self.unsaved.take().is_some() {
                    tracing::info!(session = %self.config.name, "the session is saved in the store again");
                }
            }
            Ok(()) => {}
            Err(err) => {
                tracing::warn!(session = %self.config.name, "not saved: {err}");
                self.unsaved = Some(err.to_string());
            }
        }
    }
}

/// Whether `record` was issued by `endpoint`. A record issued elsewhere (an emulator, another
/// partition) is never sent to this endpoint: its refresh token and client secret would leak.
fn issued_by(record: &SessionRecord, endpoint: &str, session: &str) -> bool {
    let issuer = record
        .oidc_endpoint
        .clone()
        .unwrap_or_else(|| crate::aws_sdk::aws_oidc_endpoint(&record.region));
    let same = issuer.trim_end_matches('/') == endpoint.trim_end_matches('/');
    if !same {
        tracing::warn!(
            session,
            "the stored login was issued by {issuer}, not by {endpoint} (the endpoint now configured); it is not sent there: log in again"
        );
    }
    same
}
