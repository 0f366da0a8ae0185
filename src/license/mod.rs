//! A License Manager token source: a refresh token (kept in the keyring) is exchanged for a
//! one-hour access token (GetAccessToken), and that for role credentials
//! (STS AssumeRoleWithWebIdentity). The agent caches and renews what these calls return.

pub mod claims;
pub mod error;
pub mod upstream;

pub use claims::TokenClaims;
pub use error::LicenseFailure;
