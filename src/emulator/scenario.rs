//! What the emulator does beyond the protocol itself: timings, lifetimes and injected faults.
//! `PUT /_emulator/scenario` replaces it; a member left out takes its default, which mirrors AWS.

use serde::{Deserialize, Serialize};

/// The operations a fault can name (the AWS operation names).
pub const OPERATIONS: [&str; 13] = [
    "RegisterClient",
    "StartDeviceAuthorization",
    "CreateToken",
    "GetRoleCredentials",
    "ListAccounts",
    "ListAccountRoles",
    "Logout",
    // The sign-in federation endpoint's getSigninToken (federation.rs).
    "GetSigninToken",
    // License Manager, by its X-Amz-Target (its CreateToken is not sso-oidc's).
    "AWSLicenseManager.CreateToken",
    "AWSLicenseManager.GetAccessToken",
    "AWSLicenseManager.DeleteToken",
    "AWSLicenseManager.ListTokens",
    // STS, by its Action.
    "AssumeRoleWithWebIdentity",
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    /// `interval` handed out by StartDeviceAuthorization, in seconds.
    pub interval: u64,
    /// How long a device code stays valid, in seconds (`expiresIn`).
    pub device_code_ttl: u64,
    /// The first N polls of each device code answer SlowDown (and raise its interval by 5 s).
    pub slow_down_polls: u32,
    /// The next N polls of each device code answer AuthorizationPending even once approved.
    pub pending_polls: u32,
    /// Approve each device code by itself on its Nth poll (1 = the first), and PKCE requests at
    /// once. Off (null) by default: a person, or the control API, approves.
    pub auto_approve_after_polls: Option<u32>,
    pub access_token_ttl: u64,
    pub refresh_token_ttl: u64,
    pub role_credentials_ttl: u64,
    pub client_secret_ttl: u64,
    /// Hand out a new refresh token on each refresh (off: the answer carries none).
    pub rotate_refresh_tokens: bool,
    /// How long a rotated-out refresh token is still accepted, in seconds.
    pub refresh_grace: u64,
    /// Portal calls allowed per second before TooManyRequests (null: no limit).
    pub portal_rate_limit: Option<u32>,
    /// License Manager calls allowed per second before RateLimitExceeded (null: no limit).
    pub license_rate_limit: Option<u32>,
    /// Live (unexpired, undeleted) refresh tokens a license may have before
    /// ResourceLimitExceeded.
    pub license_tokens_per_license: u32,
    /// The Region the emulator plays for unsigned calls (STS's RegionDisabledException).
    pub region: String,
    /// Faults for the next calls of an operation, used up in order.
    pub faults: Vec<Fault>,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            interval: 1,
            device_code_ttl: 600,
            slow_down_polls: 0,
            pending_polls: 0,
            auto_approve_after_polls: None,
            access_token_ttl: 8 * 3600,
            refresh_token_ttl: 90 * 24 * 3600,
            role_credentials_ttl: 3600,
            client_secret_ttl: 90 * 24 * 3600,
            rotate_refresh_tokens: true,
            refresh_grace: 60,
            portal_rate_limit: None,
            license_rate_limit: None,
            license_tokens_per_license: 10,
            region: "us-east-1".to_string(),
            faults: Vec::new(),
        }
    }
}

impl Scenario {
    pub fn validate(&self) -> Result<(), String> {
        for fault in &self.faults {
            if !OPERATIONS.contains(&fault.operation.as_str()) {
                return Err(format!(
                    "unknown operation {:?} in a fault; expected one of {}",
                    fault.operation,
                    OPERATIONS.join(", ")
                ));
            }
            if let Some(status) = fault.status {
                if !(400..=599).contains(&status) {
                    return Err(format!("fault status {status} is not an error status"));
                }
            }
        }
        Ok(())
    }

    /// Takes one use of the first fault left for `operation`.
    pub fn take_fault(&mut self, operation: &str) -> Option<Fault> {
        let index = self
            .faults
            .iter()
            .position(|fault| fault.operation == operation && fault.count > 0)?;
        let fault = &mut self.faults[index];
        fault.count -= 1;
        let taken = fault.clone();
        if fault.count == 0 {
            self.faults.remove(index);
        }
        Some(taken)
    }
}

/// One injected fault. Effects combine in this order: wait `delay_ms`, then reset the
/// connection, or send a garbage body, or answer `status` with `error`; with only a delay the
/// call then proceeds normally. With `after_call` the call itself runs first and takes effect,
/// and only its answer is lost (what a client retrying an idempotent call must survive).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub operation: String,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub status: Option<u16>,
    /// The exception name to send with `status` (default: the service's name for that status).
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub delay_ms: u64,
    #[serde(default)]
    pub reset: bool,
    #[serde(default)]
    pub garbage: bool,
    #[serde(default)]
    pub after_call: bool,
}

fn one() -> u32 {
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn omitted_members_take_the_aws_defaults() {
        let scenario: Scenario = serde_json::from_str(r#"{"interval": 3}"#).unwrap();
        assert_eq!(scenario.interval, 3);
        assert_eq!(scenario.device_code_ttl, 600);
        assert_eq!(scenario.access_token_ttl, 28_800);
        assert!(scenario.auto_approve_after_polls.is_none());
    }

    #[test]
    fn faults_are_used_up_in_order() {
        let mut scenario: Scenario = serde_json::from_str(
            r#"{"faults": [{"operation": "CreateToken", "count": 2, "status": 500},
                           {"operation": "CreateToken", "reset": true}]}"#,
        )
        .unwrap();
        assert_eq!(
            scenario.take_fault("CreateToken").unwrap().status,
            Some(500)
        );
        assert_eq!(
            scenario.take_fault("CreateToken").unwrap().status,
            Some(500)
        );
        assert!(scenario.take_fault("CreateToken").unwrap().reset);
        assert!(scenario.take_fault("CreateToken").is_none());
        assert!(scenario.take_fault("Logout").is_none());
    }

    #[test]
    fn an_unknown_operation_or_member_is_refused() {
        let scenario: Scenario =
            serde_json::from_str(r#"{"faults": [{"operation": "Nope"}]}"#).unwrap();
        assert!(scenario.validate().unwrap_err().contains("Nope"));
        assert!(serde_json::from_str::<Scenario>(r#"{"intervall": 3}"#).is_err());
    }
}
