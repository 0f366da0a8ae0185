//! What a session does with the AWS CLI's cache file. With `sso_agent_cli_cache = true` the file
//! follows the session's record: written on every login and refresh (a rotated refresh token
//! included), removed when the token is dropped and on logout. With the key off (the default)
//! the agent writes nothing, and removes only a file that still carries its own tokens (one it
//! wrote before the key was turned off): a file the AWS CLI wrote for its own login is left alone.
//!
//! A failure is logged (paths and reasons only, never a token) and never fails the login or
//! refresh that caused it. The file calls block; they run on tokio's blocking threads.

use super::{file, CachedToken, CliCacheError};
use crate::config::SsoSessionConfig;
use crate::store::{SessionRecord, TokenSet};

/// The record changed (a login, a refresh, a token dropped): the file follows, if the key is on.
pub async fn record_changed(config: &SsoSessionConfig, record: &SessionRecord) {
    if !config.cli_cache {
        return;
    }
    let cached = CachedToken::from_record(record);
    let session = config.name.clone();
    blocking(&session.clone(), move || {
        let path = super::path_for(&session)?;
        match cached {
            Some(cached) => file::write(&path, &cached),
            None => file::remove(&path),
        }
    })
    .await;
}

/// The session opened with this record: with the key on, the file gets its token now (the key
/// was just turned on, or the agent restarted); with it off, a file of the agent's goes.
pub async fn opened(config: &SsoSessionConfig, record: &SessionRecord) {
    if config.cli_cache {
        if record.token.is_some() {
            record_changed(config, record).await;
        }
        return;
    }
    if let Some(token) = &record.token {
        remove_if_ours(&config.name, token.clone()).await;
    }
}

/// The session logged out: the file goes if the key is on, or if it carries the session's token.
pub async fn logged_out(config: &SsoSessionConfig, token: Option<TokenSet>) {
    if config.cli_cache {
        let session = config.name.clone();
        blocking(&session.clone(), move || {
            file::remove(&super::path_for(&session)?)
        })
        .await;
    } else if let Some(token) = token {
        remove_if_ours(&config.name, token).await;
    }
}

/// The session left the config (or its key went off while the agent ran): a file that carries
/// its token goes, since nothing keeps it current any more.
pub async fn left(session: &str, token: Option<TokenSet>) {
    if let Some(token) = token {
        remove_if_ours(session, token).await;
    }
}

async fn remove_if_ours(session: &str, token: TokenSet) {
    let name = session.to_string();
    blocking(session, move || {
        let path = super::path_for(&name)?;
        match file::read(&path, &name) {
            Ok(cached) if cached.holds(&token) => {
                tracing::info!(session = %name, "removing {}: sso_agent_cli_cache is off and the file holds the agent's token", path.display());
                file::remove(&path)
            }
            // Missing, unreadable, someone else's login: not the agent's to remove.
            _ => Ok(()),
        }
    })
    .await;
}

async fn blocking(
    session: &str,
    call: impl FnOnce() -> Result<(), CliCacheError> + Send + 'static,
) {
    let result = tokio::task::spawn_blocking(call).await;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            tracing::warn!(session, "the AWS CLI token cache was not updated: {err}")
        }
        Err(_) => tracing::warn!(
            session,
            "the AWS CLI token cache update failed unexpectedly"
        ),
    }
}
