//! One sso-session: its record in the store, its login, and keeping its token alive.
//! The store is read once, when the session opens; afterwards it is only written.

use crate::config::SsoSessionConfig;
use crate::oidc::refresh::{decide, Attempts, RefreshDecision};
use crate::oidc::{self, LoginError, PendingLogin, RefreshFailure};
use crate::store::{epoch_to_time, SessionRecord, StoreError, TokenSet, TokenStore};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub struct Session {
    config: SsoSessionConfig,
    store: Arc<dyn TokenStore>,
    oidc: aws_sdk_ssooidc::Client,
    record: SessionRecord,
    attempts: Attempts,
    /// Why the last refresh failed, while it keeps failing.
    last_error: Option<String>,
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

impl Session {
    /// Opens the session, reading its record from the store (the only read).
    pub async fn open(
        config: SsoSessionConfig,
        store: Arc<dyn TokenStore>,
        oidc: aws_sdk_ssooidc::Client,
    ) -> Result<Self, LoginError> {
        let stored = {
            let (store, name) = (store.clone(), config.name.clone());
            blocking(move || store.load(&name)).await?
        };
        // A record for another start URL or region (the config changed) is not this session's.
        let record = stored
            .filter(|record| record.start_url == config.start_url && record.region == config.region)
            .unwrap_or_else(|| SessionRecord::new(&config.start_url, &config.region));
        Ok(Self {
            config,
            store,
            oidc,
            record,
            attempts: Attempts::default(),
            last_error: None,
        })
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

    /// Logs in with the device-authorization grant and stores the tokens. A registration the
    /// service no longer knows is replaced once.
    pub async fn login(
        &mut self,
        on_pending: impl FnOnce(&PendingLogin),
        cancel: impl Future<Output = ()>,
    ) -> Result<(), LoginError> {
        let mut cancel = std::pin::pin!(cancel);
        let mut on_pending = Some(on_pending);
        let mut reregistered = false;
        loop {
            let registration = self.registration().await?;
            let result = oidc::device_login(
                &self.oidc,
                &self.config.name,
                &self.config.start_url,
                &registration,
                |pending| {
                    if let Some(on_pending) = on_pending.take() {
                        on_pending(pending)
                    }
                },
                &mut cancel,
            )
            .await;
            match result {
                Ok(token) => {
                    self.record.token = Some(token);
                    self.attempts = Attempts::default();
                    self.last_error = None;
                    return self.save().await;
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

    /// The stored registration while it is usable, else a new one (stored before use).
    async fn registration(&mut self) -> Result<crate::store::Registration, LoginError> {
        if let Some(registration) = &self.record.registration {
            if oidc::registration_is_usable(registration, &self.config, SystemTime::now()) {
                return Ok(registration.clone());
            }
        }
        let registration = oidc::register(&self.oidc, &self.config).await?;
        self.record.registration = Some(registration.clone());
        self.save().await?;
        Ok(registration)
    }

    /// Refreshes the access token if the refresh policy says it is time (at `now`, wall clock).
    /// A rotated refresh token is in the store before this returns.
    pub async fn refresh_if_due(&mut self, now: SystemTime) -> Result<RefreshOutcome, LoginError> {
        let (Some(token), Some(registration)) =
            (self.record.token.clone(), self.record.registration.clone())
        else {
            return Ok(RefreshOutcome::NeedsLogin);
        };
        match decide(now, &token, self.attempts) {
            RefreshDecision::Wait(wait) => return Ok(RefreshOutcome::NotDue(wait)),
            RefreshDecision::CannotRefresh { .. } => return Ok(RefreshOutcome::NeedsLogin),
            RefreshDecision::RefreshNow => {}
        }
        crate::failpoint::hit("refresh:before-call");
        match oidc::refresh(&self.oidc, &self.config.name, &registration, &token).await {
            Ok(renewed) => {
                crate::failpoint::hit("refresh:after-answer");
                self.record.token = Some(renewed);
                // Even a success waits the minimum gap before the next attempt: a service that
                // issues tokens shorter than the refresh window must not be asked every second.
                self.attempts = Attempts {
                    last: Some(now),
                    failures: 0,
                };
                self.last_error = None;
                self.save().await?;
                crate::failpoint::hit("refresh:after-save");
                tracing::info!(session = %self.config.name, "refreshed the access token");
                Ok(RefreshOutcome::Refreshed)
            }
            Err(RefreshFailure::Rejected(err)) => {
                tracing::warn!("{err}");
                self.last_error = Some(err.to_string());
                self.record.token = None;
                self.save().await?;
                Ok(RefreshOutcome::NeedsLogin)
            }
            Err(RefreshFailure::Transient(err)) => {
                tracing::warn!("refresh failed, will retry: {err}");
                self.last_error = Some(format!("refresh failed, retrying: {err}"));
                self.attempts.failed(now);
                match decide(now, &token, self.attempts) {
                    RefreshDecision::Wait(wait) => Ok(RefreshOutcome::RetryLater(wait)),
                    _ => Ok(RefreshOutcome::RetryLater(crate::oidc::refresh::MIN_GAP)),
                }
            }
        }
    }

    /// Removes the session's tokens from memory and the store (after a logout).
    pub async fn forget(&mut self) -> Result<(), LoginError> {
        self.record.token = None;
        let (store, name) = (self.store.clone(), self.config.name.clone());
        blocking(move || store.delete(&name)).await?;
        Ok(())
    }

    async fn save(&self) -> Result<(), LoginError> {
        let (store, name, record) = (
            self.store.clone(),
            self.config.name.clone(),
            self.record.clone(),
        );
        blocking(move || store.save(&name, &record)).await?;
        Ok(())
    }
}

/// Runs a blocking store call off the async threads.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(call)
        .await
        .expect("a store call does not panic")
}
