//! `status`: sessions, their token expiry, cached roles — no secrets.

use super::roles::rfc3339;
use super::{Agent, Reply};
use crate::protocol::{Response, RoleStatus, SessionStatus, Status};
use crate::store::{epoch_to_time, TokenStore};
use std::sync::Arc;
use std::time::SystemTime;

pub async fn handle(agent: &Arc<Agent>) -> Reply {
    // Shows the config as it is now: a session removed from the file is gone at once.
    agent.retire_unconfigured().await;
    let now = SystemTime::now();
    let sessions = agent
        .slots()
        .iter()
        .map(|slot| {
            let token = slot.token_snapshot();
            SessionStatus {
                name: slot.config.name.clone(),
                start_url: slot.config.start_url.clone(),
                region: slot.config.region.clone(),
                logged_in: slot.valid_token(now).is_some(),
                expires_at: token.as_ref().map(|t| rfc3339(epoch_to_time(t.expires_at))),
                refreshable: token.as_ref().is_some_and(|t| t.refresh_token.is_some()),
                pending_login: slot.pending_login(),
                last_error: slot.last_error(),
                login_flow: slot.login_flow(),
                imported_from: slot.imported_from(),
            }
        })
        .collect::<Vec<_>>();
    let mut sessions = sessions;
    for (name, why) in agent.unopened_sessions().await {
        sessions.push(SessionStatus {
            name,
            start_url: String::new(),
            region: String::new(),
            logged_in: false,
            expires_at: None,
            refreshable: false,
            pending_login: None,
            last_error: Some(why),
            login_flow: None,
            imported_from: None,
        });
    }
    let roles = agent
        .roles
        .snapshot()
        .into_iter()
        // License Manager profiles' roles are in `licenses`.
        .filter(|(key, _)| !key.license)
        .map(|(key, expiration)| RoleStatus {
            session: key.session().to_string(),
            account_id: key.account_id().to_string(),
            role_name: key.role_name().to_string(),
            expiration: rfc3339(expiration),
        })
        .collect();
    Response::Status(Box::new(Status {
        pid: std::process::id(),
        store: agent.store.kind().name().to_string(),
        store_durability: agent.store.kind().durability().to_string(),
        store_passed_over: agent.passed_over.clone(),
        store_reads: agent.store.reads(),
        sessions,
        roles,
        config_error: agent
            .config
            .current()
            .await
            .err()
            .map(|err| err.to_string()),
        container_endpoint: super::container::endpoint_url(agent).await,
        container_grants: super::container::live_grants(agent),
        config_file: agent.config.path().to_string(),
        licenses: super::license::statuses(agent).await,
    }))
    .into()
}
