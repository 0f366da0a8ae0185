//! The sso portal: GetRoleCredentials, ListAccounts, ListAccountRoles and Logout.
//! The bearer token is checked before anything else, as the real service does.

use super::state::{random_token, Emulator, Grant, Inner, IssuedRoleCredentials};
use super::wire::{PortalError, PortalErrorKind as Kind};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const BEARER_HEADER: &str = "x-amz-sso_bearer_token";
const DEFAULT_PAGE_SIZE: usize = 20;
const MAX_PAGE_SIZE: usize = 100;
const PAGE_TOKEN_PREFIX: &str = "emu-page-";

type Params = Query<HashMap<String, String>>;
type PortalResult = Result<Response, PortalError>;

fn flatten(result: PortalResult) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The grant behind the request's bearer token, then the rate limit.
fn authorize(inner: &mut Inner, headers: &HeaderMap) -> Result<Grant, PortalError> {
    let token = headers
        .get(BEARER_HEADER)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(PortalError::unauthorized)?;
    let now = inner.now();
    let grant = inner
        .access_tokens
        .get(token)
        .filter(|record| now < record.expires_at && !inner.session_ended(record.grant.session))
        .map(|record| record.grant.clone())
        .ok_or_else(PortalError::unauthorized)?;
    if let Some(limit) = inner.scenario.portal_rate_limit {
        let window = Duration::from_secs(1);
        let calls = &mut inner.recent_portal_calls;
        while calls
            .front()
            .is_some_and(|&at| now.duration_since(at) >= window)
        {
            calls.pop_front();
        }
        if calls.len() >= limit as usize {
            return Err(PortalError::new(Kind::TooManyRequests, "Rate exceeded"));
        }
        calls.push_back(now);
    }
    Ok(grant)
}

fn required<'a>(params: &'a HashMap<String, String>, name: &str) -> Result<&'a str, PortalError> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|value| !value.is_empty())
        .ok_or_else(|| PortalError::new(Kind::InvalidRequest, format!("{name} is required")))
}

pub async fn get_role_credentials(
    State(emulator): State<Arc<Emulator>>,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    flatten((|| {
        let mut inner = emulator.lock();
        let grant = authorize(&mut inner, &headers)?;
        let role_name = required(&params, "role_name")?;
        let account_id = required(&params, "account_id")?;
        let roles = emulator.fixture.roles_of(&grant.user, account_id);
        if !roles.iter().any(|role| role == role_name) {
            return Err(PortalError::new(
                Kind::ResourceNotFound,
                format!("No access to role {role_name} in account {account_id}"),
            ));
        }
        let ttl = inner.scenario.role_credentials_ttl;
        let expiration_ms = (inner.epoch_seconds() + ttl) * 1000;
        let (secret_access_key, session_token) =
            (random_token("", 40), random_token("emu-session-", 200));
        inner.issued.push(secret_access_key.clone());
        inner.issued.push(session_token.clone());
        let access_key_id = random_token("ASIA", 16).to_uppercase();
        // Kept so the federation endpoint can check a Session it is given (federation.rs).
        let expires_at = inner.now() + Duration::from_secs(ttl);
        inner.role_credentials.insert(
            access_key_id.clone(),
            IssuedRoleCredentials {
                secret_access_key: secret_access_key.clone(),
                session_token: session_token.clone(),
                account_id: account_id.to_string(),
                role_name: role_name.to_string(),
                user: grant.user.clone(),
                expires_at,
            },
        );
        Ok(Json(json!({"roleCredentials": {
            "accessKeyId": access_key_id,
            "secretAccessKey": secret_access_key,
            "sessionToken": session_token,
            "expiration": expiration_ms,
        }}))
        .into_response())
    })())
}

pub async fn list_accounts(
    State(emulator): State<Arc<Emulator>>,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    flatten((|| {
        let grant = authorize(&mut emulator.lock(), &headers)?;
        let accounts: Vec<_> = emulator
            .fixture
            .accounts_of(&grant.user)
            .into_iter()
            .map(|account| {
                json!({"accountId": account.account_id, "accountName": account.account_name,
                       "emailAddress": account.email_address})
            })
            .collect();
        let (page, next_token) = paginate(&accounts, &params)?;
        Ok(Json(json!({"accountList": page, "nextToken": next_token})).into_response())
    })())
}

pub async fn list_account_roles(
    State(emulator): State<Arc<Emulator>>,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    flatten((|| {
        let grant = authorize(&mut emulator.lock(), &headers)?;
        let account_id = required(&params, "account_id")?;
        let roles = emulator.fixture.roles_of(&grant.user, account_id);
        if roles.is_empty() {
            return Err(PortalError::new(
                Kind::ResourceNotFound,
                format!("Account {account_id} not found"),
            ));
        }
        let roles: Vec<_> = roles
            .iter()
            .map(|role| json!({"roleName": role, "accountId": account_id}))
            .collect();
        let (page, next_token) = paginate(&roles, &params)?;
        Ok(Json(json!({"roleList": page, "nextToken": next_token})).into_response())
    })())
}

pub async fn logout(State(emulator): State<Arc<Emulator>>, headers: HeaderMap) -> Response {
    flatten((|| {
        let mut inner = emulator.lock();
        let grant = authorize(&mut inner, &headers)?;
        // Ends the whole login: its access token and every refresh token of it.
        inner.ended_sessions.push(grant.session);
        Ok(().into_response())
    })())
}

/// One page of `items` per `next_token`/`max_result`, and the token of the next page.
fn paginate(
    items: &[serde_json::Value],
    params: &HashMap<String, String>,
) -> Result<(Vec<serde_json::Value>, Option<String>), PortalError> {
    let page_size = match params.get("max_result") {
        None => DEFAULT_PAGE_SIZE,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|size| (1..=MAX_PAGE_SIZE).contains(size))
            .ok_or_else(|| {
                PortalError::new(
                    Kind::InvalidRequest,
                    format!("max_result must be between 1 and {MAX_PAGE_SIZE}"),
                )
            })?,
    };
    let start = match params.get("next_token") {
        None => 0,
        Some(token) => token
            .strip_prefix(PAGE_TOKEN_PREFIX)
            .and_then(|offset| offset.parse::<usize>().ok())
            .filter(|&offset| offset <= items.len())
            .ok_or_else(|| PortalError::new(Kind::InvalidRequest, "Invalid next_token"))?,
    };
    let end = (start + page_size).min(items.len());
    let next_token = (end < items.len()).then(|| format!("{PAGE_TOKEN_PREFIX}{end}"));
    Ok((items[start..end].to_vec(), next_token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn pages_walk_the_whole_list_once() {
        let items: Vec<_> = (0..5).map(|n| json!(n)).collect();
        let (first, next) = paginate(&items, &params(&[("max_result", "2")])).unwrap();
        assert_eq!(first, [json!(0), json!(1)]);
        let next = next.unwrap();
        let (second, next) = paginate(
            &items,
            &params(&[("max_result", "2"), ("next_token", &next)]),
        )
        .unwrap();
        assert_eq!(second, [json!(2), json!(3)]);
        let (last, end) = paginate(
            &items,
            &params(&[("max_result", "2"), ("next_token", &next.unwrap())]),
        )
        .unwrap();
        assert_eq!(last, [json!(4)]);
        assert!(end.is_none());
    }

    #[test]
    fn bad_paging_parameters_are_invalid_requests() {
        let items = vec![json!(1)];
        for bad in [
            params(&[("max_result", "0")]),
            params(&[("max_result", "x")]),
            params(&[("next_token", "garbage")]),
            params(&[("next_token", "emu-page-9")]),
        ] {
            let err = paginate(&items, &bad).unwrap_err();
            assert_eq!(err.kind, Kind::InvalidRequest);
        }
    }
}
