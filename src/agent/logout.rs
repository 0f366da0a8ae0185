//! `logout`: sso Logout upstream, then the keyring item and the cached roles go.

use super::{error, Agent, Reply};
use crate::protocol::{ErrorKind, Response};
use std::sync::Arc;

pub async fn handle(
    agent: &Arc<Agent>,
    session: Option<String>,
    profile: Option<String>,
    all: bool,
) -> Reply {
    let session = match profile {
        Some(profile) => match agent.config.profile(&profile).await {
            Ok(profile) => Some(profile.session.name),
            Err(err) => return error(ErrorKind::Config, err.to_string()),
        },
        None => session,
    };
    let slots = match (session, all) {
        (_, true) => agent.slots(),
        (Some(name), false) => match agent.open_slot(&name) {
            Some(slot) => vec![slot],
            None => match agent.config.session(&name).await {
                Ok(config) => match agent.session(&config).await {
                    Ok(slot) => vec![slot],
                    Err(message) => return error(ErrorKind::Store, message),
                },
                Err(err) => return error(ErrorKind::Config, err.to_string()),
            },
        },
        (None, false) => {
            return error(
                ErrorKind::BadRequest,
                "name a session (--sso-session S) or use --all",
            )
        }
    };
    // The grants go first: a request on one must not start a login for a session being left.
    let names: Vec<String> = slots.iter().map(|slot| slot.config.name.clone()).collect();
    let ended = super::container::revoke_sessions(agent, &names);
    if ended > 0 {
        tracing::info!(
            "logout ended {ended} container-credentials grant(s) of {}",
            names.join(", ")
        );
    }
    let mut sessions = Vec::new();
    let mut unsaved = Vec::new();
    for slot in slots {
        // Forgotten here first, so nothing is served or cached from it meanwhile.
        let (token, stored) = slot.forget().await;
        agent.roles.forget_session(&slot.config.name);
        if let Some(token) = token {
            let clients = agent.clients(&slot.config.region).await;
            if let Err(err) = crate::portal::logout(&clients.sso, &token.access_token).await {
                // The local logout still happens: the token is gone from here either way.
                tracing::warn!("logging out of {} upstream: {err}", slot.config.name);
            }
        }
        if let Err(message) = stored {
            unsaved.push(format!("{}: {message}", slot.config.name));
        }
        sessions.push(slot.config.name.clone());
    }
    if !unsaved.is_empty() {
        return error(
            ErrorKind::Store,
            format!(
                "logged out of {} (here and upstream), but the keyring item is not removed yet ({}); the agent removes it once the keyring answers",
                sessions.join(", "),
                unsaved.join("; ")
            ),
        );
    }
    Response::LoggedOut { sessions }.into()
}
