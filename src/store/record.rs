//! The one JSON value a session keeps in the store.

use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const RECORD_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub version: u32,
    pub start_url: String,
    pub region: String,
    /// The sso-oidc endpoint that issued the registration and tokens; they are sent nowhere
    /// else. Absent in records written before it was kept: the AWS endpoint of the region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc_endpoint: Option<String>,
    pub registration: Option<Registration>,
    pub token: Option<TokenSet>,
    /// The agent itself wrote the AWS CLI's cache file (`sso_agent_cli_cache = true`) with this
    /// record's token, and has not removed it since: only then is the file the agent's to
    /// remove. An imported token (the AWS CLI's own file) is unmarked when it is taken
    /// (`adopt`). Absent (false) in records written before it was kept.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cli_cache_exported: bool,
}

impl SessionRecord {
    pub fn new(start_url: &str, region: &str) -> Self {
        Self {
            version: RECORD_VERSION,
            start_url: start_url.to_string(),
            region: region.to_string(),
            oidc_endpoint: None,
            registration: None,
            token: None,
            cli_cache_exported: false,
        }
    }
}

/// A client registration (RegisterClient's answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub client_id: String,
    pub client_secret: Secret,
    /// `clientSecretExpiresAt`, seconds since the epoch.
    pub expires_at: u64,
    pub scopes: Vec<String>,
    /// The grants it was registered for. Records written before this was kept are device-code
    /// registrations (the only kind there was).
    #[serde(default = "device_code_grants")]
    pub grant_types: Vec<String>,
}

/// What a registration of the device flow has: the device code and refresh grants.
pub fn device_code_grants() -> Vec<String> {
    vec![
        "urn:ietf:params:oauth:grant-type:device_code".into(),
        "refresh_token".into(),
    ]
}

/// The tokens of a live login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSet {
    pub access_token: Secret,
    /// Seconds since the epoch.
    pub expires_at: u64,
    pub refresh_token: Option<Secret>,
}

/// Seconds since the epoch as a time.
pub fn epoch_to_time(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

/// A time as seconds since the epoch (0 before it).
pub fn time_to_epoch(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_round_trips_through_json_and_debug_hides_secrets() {
        let record = SessionRecord {
            token: Some(TokenSet {
                access_token: Secret::new("canary-access"),
                expires_at: 1_900_000_000,
                refresh_token: Some(Secret::new("canary-refresh")),
            }),
            registration: Some(Registration {
                client_id: "id".into(),
                client_secret: Secret::new("canary-secret"),
                expires_at: 1_900_000_000,
                scopes: vec!["sso:account:access".into()],
                grant_types: device_code_grants(),
            }),
            ..SessionRecord::new("https://x.example/start", "us-east-1")
        };
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(
            serde_json::from_str::<SessionRecord>(&json).unwrap(),
            record
        );
        let debug = format!("{record:?}");
        assert!(!debug.contains("canary"), "{debug}");
    }

    #[test]
    fn a_record_stored_before_the_cli_cache_marker_was_kept_is_unmarked_and_unmarked_is_unwritten()
    {
        let old = r#"{"version":1,"start_url":"https://x.example/start","region":"us-east-1","registration":null,"token":null}"#;
        let record: SessionRecord = serde_json::from_str(old).unwrap();
        assert!(!record.cli_cache_exported);
        assert_eq!(serde_json::to_string(&record).unwrap(), old);
        let marked = SessionRecord {
            cli_cache_exported: true,
            ..record
        };
        let json = serde_json::to_string(&marked).unwrap();
        assert!(json.ends_with(r#","cli_cache_exported":true}"#), "{json}");
        assert!(
            serde_json::from_str::<SessionRecord>(&json)
                .unwrap()
                .cli_cache_exported
        );
    }

    #[test]
    fn a_registration_stored_before_grant_types_were_kept_is_a_device_code_one() {
        let old = r#"{"client_id":"id","client_secret":"s","expires_at":1,"scopes":["sso:account:access"]}"#;
        let registration: Registration = serde_json::from_str(old).unwrap();
        assert_eq!(registration.grant_types, device_code_grants());
    }
}
