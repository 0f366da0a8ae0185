//! The keys of a profile `sso-agent configure` writes. It names its role with `sso_agent_*` keys
//! instead of `sso_session`/`sso_account_id`/`sso_role_name`: botocore's and aws-sdk-rust's
//! chains try their own SSO provider before `credential_process` as soon as one of those keys is
//! in a profile, and the section would then bypass the helper (and sso-agent's login). The SDKs
//! and the AWS CLI ignore keys they do not know.

/// The `[sso-session NAME]` the role belongs to.
pub const SESSION: &str = "sso_agent_session";
pub const ACCOUNT_ID: &str = "sso_agent_account_id";
pub const ROLE_NAME: &str = "sso_agent_role_name";
/// Marks a section `configure` owns (rewrites, prunes); a section without it is the user's,
/// even if it has the keys above.
pub const MARKER: &str = "sso_agent_generated";
