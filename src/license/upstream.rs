//! The two upstream calls, through the real SDK clients. GetAccessToken goes unsigned (the
//! refresh token is the credential; see docs/design.md); AssumeRoleWithWebIdentity is unsigned
//! in the STS model.

use super::LicenseFailure;
use crate::aws_sdk::CallFailure;
use crate::portal::RoleCredentials;
use crate::secret::Secret;
use std::time::{Duration, SystemTime};

/// RateLimitExceededException is not among the SDK's throttling codes, so it is retried here:
/// 1 s, 2 s, 4 s, then the error.
const RATE_LIMIT_RETRIES: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// The License Manager client for unsigned calls: no credentials are looked up.
pub fn unsigned_client(sdk: &aws_config::SdkConfig) -> aws_sdk_licensemanager::Client {
    let config = aws_sdk_licensemanager::config::Builder::from(sdk)
        .allow_no_auth()
        .build();
    aws_sdk_licensemanager::Client::from_conf(config)
}

/// GetAccessToken: the access token (valid one hour).
pub async fn get_access_token(
    client: &aws_sdk_licensemanager::Client,
    profile: &str,
    refresh_token: &Secret,
    token_properties: &[String],
) -> Result<Secret, LicenseFailure> {
    let mut waits = RATE_LIMIT_RETRIES.iter();
    loop {
        let sent = client
            .get_access_token()
            .token(refresh_token.expose())
            .set_token_properties((!token_properties.is_empty()).then(|| token_properties.to_vec()))
            .send()
            .await;
        match sent {
            Ok(answer) => {
                return answer.access_token().map(Secret::new).ok_or_else(|| {
                    LicenseFailure::LicenseManager {
                        profile: profile.to_string(),
                        code: "NoAccessToken".into(),
                        detail: "the answer had no AccessToken".into(),
                        fix: "try again",
                    }
                })
            }
            Err(err) => {
                let failure = CallFailure::from_sdk(err);
                if failure.code() == Some("RateLimitExceededException") {
                    if let Some(wait) = waits.next() {
                        tokio::time::sleep(*wait).await;
                        continue;
                    }
                }
                return Err(LicenseFailure::from_get_access_token(profile, failure));
            }
        }
    }
}

/// AssumeRoleWithWebIdentity with the access token as WebIdentityToken.
pub async fn assume_role(
    client: &aws_sdk_sts::Client,
    profile: &str,
    role_arn: &str,
    role_session_name: &str,
    access_token: &Secret,
) -> Result<RoleCredentials, LicenseFailure> {
    let answer = client
        .assume_role_with_web_identity()
        .role_arn(role_arn)
        .role_session_name(role_session_name)
        .web_identity_token(access_token.expose())
        .send()
        .await
        .map_err(|err| {
            LicenseFailure::from_assume_role(profile, role_arn, CallFailure::from_sdk(err))
        })?;
    let credentials = answer.credentials().ok_or_else(|| LicenseFailure::Sts {
        profile: profile.to_string(),
        role_arn: role_arn.to_string(),
        code: "NoCredentials".into(),
        detail: "the answer had no Credentials".into(),
        fix: "try again",
    })?;
    let expiration =
        SystemTime::try_from(*credentials.expiration()).unwrap_or(SystemTime::UNIX_EPOCH);
    Ok(RoleCredentials {
        access_key_id: credentials.access_key_id().to_string(),
        secret_access_key: Secret::new(credentials.secret_access_key()),
        session_token: Secret::new(credentials.session_token()),
        expiration,
    })
}
