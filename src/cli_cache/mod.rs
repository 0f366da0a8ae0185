//! The AWS CLI's own SSO token cache: `~/.aws/sso/cache/<sha1 of the session name>.json`, the
//! file `aws sso login` writes and botocore, the AWS CLI and aws-sdk-rust's SSO token providers
//! read (a legacy profile's session is named by its start URL, which is also what they hash).
//!
//! This module is the file's format and name; `file` reads and writes it safely; `export` is what
//! a session does with it when `sso_agent_cli_cache = true`.

pub mod export;
pub mod file;
pub mod take;

use crate::secret::Secret;
use crate::store::{epoch_to_time, Registration, SessionRecord, TokenSet};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub use file::CliCacheError;

/// The file's content, in the AWS CLI's member names and order. Only `accessToken` and
/// `expiresAt` are required by the readers; the registration and the refresh token let them
/// refresh by themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedToken {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub access_token: Secret,
    /// UTC, `YYYY-MM-DDTHH:MM:SSZ`, as botocore writes it.
    pub expires_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
}

impl CachedToken {
    /// The file for a session record; `None` without a token.
    pub fn from_record(record: &SessionRecord) -> Option<Self> {
        let token = record.token.as_ref()?;
        let registration = record.registration.as_ref();
        Some(Self {
            start_url: Some(record.start_url.clone()),
            region: Some(record.region.clone()),
            access_token: token.access_token.clone(),
            expires_at: format_time(token.expires_at),
            client_id: registration.map(|r| r.client_id.clone()),
            client_secret: registration.map(|r| r.client_secret.clone()),
            registration_expires_at: registration.map(|r| format_time(r.expires_at)),
            refresh_token: token.refresh_token.clone(),
        })
    }

    /// Whether the file carries this session's tokens (the agent wrote it, or it was imported):
    /// the same access token, or the same refresh token.
    pub fn holds(&self, token: &TokenSet) -> bool {
        self.access_token == token.access_token
            || (self.refresh_token.is_some() && self.refresh_token == token.refresh_token)
    }

    /// The token set and registration the file carries, as the agent keeps them. Errors say
    /// which member is unreadable. The file does not say which scopes or grants the client was
    /// registered with (the AWS CLI's may lack the device grant), so the registration's scopes
    /// are left empty: it serves refreshes, and the agent's next login registers a client of its
    /// own (`oidc::registration_is_usable` wants the session's scopes).
    pub fn parts(&self) -> Result<(TokenSet, Option<Registration>), CliCacheError> {
        let expires_at = parse_time(&self.expires_at).ok_or(CliCacheError::BadTime {
            member: "expiresAt",
        })?;
        let registration = match (
            &self.client_id,
            &self.client_secret,
            &self.registration_expires_at,
        ) {
            (Some(client_id), Some(client_secret), Some(at)) => Some(Registration {
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                expires_at: parse_time(at).ok_or(CliCacheError::BadTime {
                    member: "registrationExpiresAt",
                })?,
                scopes: Vec::new(),
                // What the AWS CLI's client may do beyond refreshing is not in the file.
                grant_types: vec!["refresh_token".into()],
            }),
            _ => None,
        };
        Ok((
            TokenSet {
                access_token: self.access_token.clone(),
                expires_at,
                refresh_token: self.refresh_token.clone(),
            },
            registration,
        ))
    }
}

/// `<sha1 hex of the session name>.json`, the name botocore's `SSOTokenLoader` gives it.
pub fn file_name(session: &str) -> String {
    let digest = Sha1::digest(session.as_bytes());
    let mut name: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    name.push_str(".json");
    name
}

/// `~/.aws/sso/cache`: the AWS CLI always uses this directory under the home directory (`HOME`,
/// as the SDKs find it); `AWS_CONFIG_FILE` does not move it.
pub fn cache_dir(home: &Path) -> PathBuf {
    home.join(".aws").join("sso").join("cache")
}

/// The session's cache file under this process's home directory.
pub fn path_for(session: &str) -> Result<PathBuf, CliCacheError> {
    let home = std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .ok_or(CliCacheError::NoHome)?;
    Ok(cache_dir(Path::new(&home)).join(file_name(session)))
}

/// Seconds since the epoch as botocore writes a time: `2026-12-02T11:00:00Z`.
pub fn format_time(epoch: u64) -> String {
    aws_smithy_types::DateTime::from_secs(epoch as i64)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

/// A time as botocore has written it: RFC 3339 in UTC (`Z`, fractions allowed), `+00:00`
/// (`isoformat()`), or the `…UTC` suffix of `%Z`. Seconds since the epoch, or `None`.
pub fn parse_time(text: &str) -> Option<u64> {
    let text = text.trim();
    let text = match text
        .strip_suffix("UTC")
        .or_else(|| text.strip_suffix("+00:00"))
    {
        Some(head) => format!("{head}Z"),
        None => text.to_string(),
    };
    let time =
        aws_smithy_types::DateTime::from_str(&text, aws_smithy_types::date_time::Format::DateTime)
            .ok()?;
    u64::try_from(time.secs()).ok()
}

/// Whether `epoch` is still ahead of `now`.
pub fn unexpired(epoch: u64, now: SystemTime) -> bool {
    epoch_to_time(epoch) > now
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_named_by_the_sha1_of_the_session_name_as_botocore_names_it() {
        // hashlib.sha1(b"my-sso").hexdigest(), and of a legacy start URL.
        assert_eq!(
            file_name("my-sso"),
            "0ad374308c5a4e22f723adf10145eafad7c4031c.json"
        );
        assert_eq!(
            file_name("https://d-abc123.awsapps.com/start"),
            "40a89917e3175433e361b710a9d43528d7f1890a.json"
        );
    }

    #[test]
    fn times_are_written_as_botocore_writes_them_and_read_in_every_form_it_wrote() {
        assert_eq!(format_time(1_796_209_200), "2026-12-02T11:00:00Z");
        for text in [
            "2026-12-02T11:00:00Z",
            "2026-12-02T11:00:00UTC",
            "2026-12-02T11:00:00.000Z",
            "2026-12-02T11:00:00+00:00",
        ] {
            assert_eq!(parse_time(text), Some(1_796_209_200), "{text}");
        }
        assert_eq!(parse_time("tomorrow"), None);
    }

    #[test]
    fn a_record_becomes_the_aws_cli_members_in_its_order_and_back() {
        let record = SessionRecord {
            registration: Some(Registration {
                client_id: "client-1".into(),
                client_secret: Secret::new("secret-1"),
                expires_at: 1_796_209_200,
                scopes: vec!["sso:account:access".into()],
                grant_types: crate::store::device_code_grants(),
            }),
            token: Some(TokenSet {
                access_token: Secret::new("access-1"),
                expires_at: 1_796_209_200,
                refresh_token: Some(Secret::new("refresh-1")),
            }),
            ..SessionRecord::new("https://corp.awsapps.com/start", "us-east-1")
        };
        let cached = CachedToken::from_record(&record).unwrap();
        let json = serde_json::to_string(&cached).unwrap();
        assert_eq!(
            json,
            r#"{"startUrl":"https://corp.awsapps.com/start","region":"us-east-1","accessToken":"access-1","expiresAt":"2026-12-02T11:00:00Z","clientId":"client-1","clientSecret":"secret-1","registrationExpiresAt":"2026-12-02T11:00:00Z","refreshToken":"refresh-1"}"#
        );
        let (token, registration) = cached.parts().unwrap();
        assert_eq!(Some(token), record.token);
        let registration = registration.unwrap();
        let kept = record.registration.as_ref().unwrap();
        assert_eq!(
            (
                &registration.client_id,
                &registration.client_secret,
                registration.expires_at
            ),
            (&kept.client_id, &kept.client_secret, kept.expires_at)
        );
        assert!(
            registration.scopes.is_empty(),
            "unknown scopes never serve a login"
        );
        assert!(cached.holds(record.token.as_ref().unwrap()));
        assert!(!format!("{cached:?}").contains("secret-1"));
        let empty = SessionRecord::new("https://corp.awsapps.com/start", "us-east-1");
        assert_eq!(CachedToken::from_record(&empty), None);
    }
}
