//! The one JSON value a License Manager profile keeps in the store: its refresh token and what
//! its claims say (read once, when it is stored), so `status` needs no secret to show them.

use crate::secret::Secret;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseRecord {
    /// The refresh token (a JWT), as CreateToken returned it.
    pub token: Secret,
    pub token_id: String,
    pub license_arn: String,
    /// The token's `exp`, seconds since the epoch.
    pub expires_at: u64,
    /// The profile whose credentials made the token (`license create-token`), for
    /// `license delete --upstream`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_profile: Option<String>,
}
