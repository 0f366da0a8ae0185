//! The sso portal: role credentials, the accounts and roles a token may use, and logout.

use crate::aws_sdk::CallFailure;
use crate::protocol::AccountRole;
use crate::secret::Secret;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One role's temporary credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Secret,
    pub expiration: SystemTime,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PortalError {
    /// The access token is no longer accepted: the session needs a new login.
    #[error("IAM Identity Center no longer accepts the session's token")]
    Unauthorized,
    #[error("no access to role {role_name} in account {account_id} (check `sso_account_id` and `sso_role_name`)")]
    NoSuchRole {
        account_id: String,
        role_name: String,
    },
    #[error("IAM Identity Center is throttling requests; try again shortly")]
    Throttled,
    #[error("IAM Identity Center refused {operation} ({code})")]
    Refused {
        operation: &'static str,
        code: String,
    },
    #[error("cannot reach IAM Identity Center ({operation}): {detail}; {advice}")]
    Unreachable {
        operation: &'static str,
        detail: String,
        /// Names the endpoint when a variable or the config file set it (`config::reachability_advice`).
        advice: String,
    },
}

impl PortalError {
    fn from_failure(
        failure: CallFailure,
        operation: &'static str,
        account_id: &str,
        role_name: &str,
    ) -> Self {
        match failure {
            CallFailure::Transport { detail } => Self::Unreachable {
                operation,
                detail,
                advice: crate::config::reachability_advice(crate::config::SSO_PORTAL),
            },
            CallFailure::Service { code, .. } => match code.as_str() {
                "UnauthorizedException" => Self::Unauthorized,
                "ResourceNotFoundException" => Self::NoSuchRole {
                    account_id: account_id.to_string(),
                    role_name: role_name.to_string(),
                },
                "TooManyRequestsException" => Self::Throttled,
                _ => Self::Refused { operation, code },
            },
        }
    }
}

pub async fn get_role_credentials(
    client: &aws_sdk_sso::Client,
    access_token: &Secret,
    account_id: &str,
    role_name: &str,
) -> Result<RoleCredentials, PortalError> {
    let answer = client
        .get_role_credentials()
        .access_token(access_token.expose())
        .account_id(account_id)
        .role_name(role_name)
        .send()
        .await
        .map_err(|err| {
            PortalError::from_failure(
                CallFailure::from_sdk(err),
                "GetRoleCredentials",
                account_id,
                role_name,
            )
        })?;
    let incomplete = || PortalError::Refused {
        operation: "GetRoleCredentials",
        code: "IncompleteAnswer".into(),
    };
    let credentials = answer.role_credentials().ok_or_else(incomplete)?;
    let (Some(access_key_id), Some(secret_access_key), Some(session_token)) = (
        credentials.access_key_id(),
        credentials.secret_access_key(),
        credentials.session_token(),
    ) else {
        return Err(incomplete());
    };
    Ok(RoleCredentials {
        access_key_id: access_key_id.to_string(),
        secret_access_key: Secret::new(secret_access_key),
        session_token: Secret::new(session_token),
        // The portal gives epoch milliseconds.
        expiration: UNIX_EPOCH + Duration::from_millis(credentials.expiration().max(0) as u64),
    })
}

/// ListAccountRoles calls in flight at once: an organisation with hundreds of accounts is listed
/// in seconds rather than minutes, and the SDK's retries back off if the portal throttles.
const CONCURRENT_LISTINGS: usize = 8;

/// Every account and role the token may use, through every page of ListAccounts and of each
/// account's ListAccountRoles, in the portal's order.
pub async fn list_account_roles(
    client: &aws_sdk_sso::Client,
    access_token: &Secret,
) -> Result<Vec<AccountRole>, PortalError> {
    use futures_util::{StreamExt, TryStreamExt};
    let accounts = client
        .list_accounts()
        .access_token(access_token.expose())
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|err| listing_error(err, "ListAccounts"))?;
    // Owned names: a stream of futures borrowing from the closure's arguments is not `Send`
    // for the compiler (a higher-ranked lifetime), and the agent runs this on a spawned task.
    let accounts: Vec<(String, String)> = accounts
        .iter()
        .filter_map(|account| {
            let account_id = account.account_id()?;
            let name = account.account_name().unwrap_or(account_id);
            Some((account_id.to_string(), name.to_string()))
        })
        .collect();
    let per_account: Vec<Vec<AccountRole>> = futures_util::stream::iter(accounts)
        .map(|(account_id, account_name)| async move {
            account_roles(client, access_token, &account_id, &account_name).await
        })
        .buffered(CONCURRENT_LISTINGS)
        .try_collect()
        .await?;
    Ok(per_account.into_iter().flatten().collect())
}

/// One account's roles, through every page.
async fn account_roles(
    client: &aws_sdk_sso::Client,
    access_token: &Secret,
    account_id: &str,
    account_name: &str,
) -> Result<Vec<AccountRole>, PortalError> {
    let listed = client
        .list_account_roles()
        .access_token(access_token.expose())
        .account_id(account_id)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|err| listing_error(err, "ListAccountRoles"))?;
    Ok(listed
        .iter()
        .filter_map(|role| role.role_name())
        .map(|role_name| AccountRole {
            account_id: account_id.to_string(),
            account_name: account_name.to_string(),
            role_name: role_name.to_string(),
        })
        .collect())
}

fn listing_error<E, R>(
    err: aws_sdk_sso::error::SdkError<E, R>,
    operation: &'static str,
) -> PortalError
where
    E: aws_sdk_sso::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match PortalError::from_failure(CallFailure::from_sdk(err), operation, "", "") {
        // Names no role here (an account that went away while it was listed).
        PortalError::NoSuchRole { .. } => PortalError::Refused {
            operation,
            code: "ResourceNotFoundException".into(),
        },
        other => other,
    }
}

/// Whether the portal accepts `access_token`: one page of ListAccounts (one account at most), the
/// lightest call a token of any user may make. `Unauthorized`: revoked or its session ended.
pub async fn check_token(
    client: &aws_sdk_sso::Client,
    access_token: &Secret,
) -> Result<(), PortalError> {
    client
        .list_accounts()
        .access_token(access_token.expose())
        .max_results(1)
        .send()
        .await
        .map(|_| ())
        .map_err(|err| listing_error(err, "ListAccounts"))
}

/// Ends the session upstream; a token that is already invalid counts as logged out.
pub async fn logout(
    client: &aws_sdk_sso::Client,
    access_token: &Secret,
) -> Result<(), PortalError> {
    match client
        .logout()
        .access_token(access_token.expose())
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(err) => match PortalError::from_failure(CallFailure::from_sdk(err), "Logout", "", "") {
            PortalError::Unauthorized => Ok(()),
            other => Err(other),
        },
    }
}
