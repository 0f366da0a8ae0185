//! What a session does with the AWS CLI's cache file. With `sso_agent_cli_cache = true` the file
//! follows the session's record: written on every login and refresh (a rotated refresh token
//! included), removed when the token is dropped and on logout. With the key off (the default)
//! the agent writes nothing, and removes only a file it exported itself (the record's
//! `cli_cache_exported`, set when it writes the file, cleared when it removes it) that still
//! carries its token: a file the AWS CLI wrote — its own login, or one imported from it with
//! `import-cli-cache` — is never the agent's to remove.
//!
//! The file is the AWS CLI's too: botocore refreshes through it when it finds the token near its
//! end (say the agent was not running), saving a new access token and, where refresh tokens
//! rotate, a new refresh token, which leaves the agent's the rotated-away one. So the file is
//! read before it is written: a newer login there is never overwritten (`record_changed`), and
//! the session takes it (`newer_login`) when it opens and before each refresh.
//!
//! A failure is logged (paths and reasons only, never a token) and never fails the login or
//! refresh that caused it. The file calls block; they run on tokio's blocking threads.

use super::{file, CachedToken, CliCacheError};
use crate::config::SsoSessionConfig;
use crate::store::{Registration, SessionRecord, TokenSet};
use std::time::SystemTime;

/// The record changed (a login, a refresh, a token dropped): the file follows, if the key is on.
/// What the record's `cli_cache_exported` is now: `Some(true)` written, `Some(false)` removed,
/// `None` unchanged (the key is off, the file has a newer login, or the write failed).
pub async fn record_changed(config: &SsoSessionConfig, record: &SessionRecord) -> Option<bool> {
    if !config.cli_cache {
        return None;
    }
    let cached = CachedToken::from_record(record);
    let current = record.token.clone();
    let config = config.clone();
    let session = config.name.clone();
    blocking(&session.clone(), move || {
        let path = super::path_for(&session)?;
        let Some(cached) = cached else {
            return file::remove(&path).map(|()| Some(false));
        };
        if let Ok(existing) = file::read(&path, &session) {
            // Left only when the agent would take it (the same test as `newer_login`): a file
            // it would not take is overwritten, or the export would stop for good.
            let now = SystemTime::now();
            if super::take::newer_login(&config, &path, &existing, current.as_ref(), now).is_some() {
                tracing::info!(session = %session, "{} is left as it is: it has a newer token than the agent's (refreshed through the file); the agent takes it before its next refresh", path.display());
                return Ok(None);
            }
        }
        file::write(&path, &cached).map(|()| Some(true))
    })
    .await
    .flatten()
}

/// With the key on, the login in the file if it is newer than `current` (see
/// `take::newer_login`); a missing or unreadable file has none.
pub async fn newer_login(
    config: &SsoSessionConfig,
    current: Option<&TokenSet>,
) -> Option<(TokenSet, Option<Registration>)> {
    if !config.cli_cache {
        return None;
    }
    let config = config.clone();
    let current = current.cloned();
    let session = config.name.clone();
    blocking(&session, move || {
        let path = super::path_for(&config.name)?;
        let cached = match file::read(&path, &config.name) {
            Ok(cached) => cached,
            Err(CliCacheError::Missing { .. }) => return Ok(None),
            // A link or another owner's file is reported when the file is written.
            Err(err) => {
                tracing::debug!(session = %config.name, "no newer login taken from the AWS CLI token cache: {err}");
                return Ok(None);
            }
        };
        Ok(super::take::newer_login(
            &config,
            &path,
            &cached,
            current.as_ref(),
            SystemTime::now(),
        ))
    })
    .await
    .flatten()
}

/// The session opened with this record: with the key on, the file gets its token now (the key
/// was just turned on, or the agent restarted); with it off, a file the agent exported goes.
/// What `cli_cache_exported` is now (as `record_changed`).
pub async fn opened(config: &SsoSessionConfig, record: &SessionRecord) -> Option<bool> {
    if config.cli_cache {
        if record.token.is_some() {
            return record_changed(config, record).await;
        }
        return None;
    }
    match &record.token {
        Some(token) if record.cli_cache_exported => {
            remove_if_exported(&config.name, token.clone()).await
        }
        _ => None,
    }
}

/// The session logged out: the file goes if the key is on, or if the agent exported it and it
/// still carries the session's token.
pub async fn logged_out(config: &SsoSessionConfig, token: Option<TokenSet>, exported: bool) {
    if config.cli_cache {
        let session = config.name.clone();
        blocking(&session.clone(), move || {
            file::remove(&super::path_for(&session)?)
        })
        .await;
    } else if let (Some(token), true) = (token, exported) {
        remove_if_exported(&config.name, token).await;
    }
}

/// The session left the config with the key on (so the agent kept the file): a file that
/// carries its token goes, since nothing keeps it current any more.
pub async fn left(session: &str, token: Option<TokenSet>) {
    if let Some(token) = token {
        remove_if_exported(session, token).await;
    }
}

/// Removes the file the agent exported, if it still carries `token`; `Some(false)` once the file
/// is not the agent's any more (removed, missing, or another login), `None` if that is unknown.
async fn remove_if_exported(session: &str, token: TokenSet) -> Option<bool> {
    let name = session.to_string();
    blocking(session, move || {
        let path = super::path_for(&name)?;
        match file::read(&path, &name) {
            Ok(cached) if cached.holds(&token) => {
                tracing::info!(session = %name, "removing {}: sso_agent_cli_cache is off and the file the agent wrote holds its token", path.display());
                file::remove(&path).map(|()| Some(false))
            }
            // Missing, or someone else's login since: not the agent's to remove.
            Ok(_) | Err(CliCacheError::Missing { .. }) => Ok(Some(false)),
            // Unreadable (a link, another owner): left alone, and asked again next time.
            Err(_) => Ok(None),
        }
    })
    .await
    .flatten()
}

async fn blocking<T: Send + 'static>(
    session: &str,
    call: impl FnOnce() -> Result<T, CliCacheError> + Send + 'static,
) -> Option<T> {
    let result = tokio::task::spawn_blocking(call).await;
    match result {
        Ok(Ok(value)) => Some(value),
        Ok(Err(err)) => {
            tracing::warn!(session, "the AWS CLI token cache was not updated: {err}");
            None
        }
        Err(_) => {
            tracing::warn!(
                session,
                "the AWS CLI token cache update failed unexpectedly"
            );
            None
        }
    }
}
