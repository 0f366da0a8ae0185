//! The AWS SDK configuration every sso-oidc and sso client is built from.

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// The shared configuration for one IAM Identity Center region. Endpoints follow the SDK's own
/// rules (`AWS_ENDPOINT_URL_SSO_OIDC`, `AWS_ENDPOINT_URL_SSO`, `AWS_ENDPOINT_URL`, `services`
/// sections of the config file); the calls are unsigned, so no credentials are looked up.
pub async fn sdk_config(region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .no_credentials()
        .load()
        .await
}
