//! Every way the token source fails, each with what to do next. Messages never carry a token.

use crate::aws_sdk::CallFailure;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenseFailure {
    #[error("profile {profile} has no License Manager token in the keyring; run `sso-agent license import --profile {profile}` (token on stdin) or `sso-agent license create-token --profile {profile} --license-arn ARN --role-arn ARN --source-profile S`")]
    NoToken { profile: String },
    #[error("the License Manager token of profile {profile} expired at {expired_at}; create a new one with `sso-agent license create-token --profile {profile} …` or import one with `sso-agent license import --profile {profile}`")]
    Expired { profile: String, expired_at: String },
    #[error("License Manager refused the token of profile {profile} ({detail}): it has expired, was deleted, or is not valid; create a new one with `sso-agent license create-token --profile {profile} …` or import one with `sso-agent license import --profile {profile}`")]
    Refused { profile: String, detail: String },
    #[error("License Manager refused the request for profile {profile}: {code}: {detail}; {fix}")]
    LicenseManager {
        profile: String,
        code: String,
        detail: String,
        fix: &'static str,
    },
    #[error("STS refused AssumeRoleWithWebIdentity for profile {profile} ({role_arn}): {code}: {detail}; {fix}")]
    Sts {
        profile: String,
        role_arn: String,
        code: String,
        detail: String,
        fix: &'static str,
    },
    #[error("{service} could not be reached for profile {profile} ({detail}); check the network, the profile's `region`, or {variable}")]
    Unreachable {
        profile: String,
        service: &'static str,
        variable: &'static str,
        detail: String,
    },
    #[error("the keyring failed for profile {profile}: {detail}")]
    Store { profile: String, detail: String },
}

impl LicenseFailure {
    /// A GetAccessToken failure, by its modeled error.
    pub fn from_get_access_token(profile: &str, failure: CallFailure) -> Self {
        let (code, detail) = match failure {
            CallFailure::Transport { detail } => {
                return Self::Unreachable {
                    profile: profile.to_string(),
                    service: "License Manager",
                    variable: "AWS_ENDPOINT_URL_LICENSE_MANAGER",
                    detail,
                }
            }
            CallFailure::Service { code, description } => (code, description),
        };
        let fix = match code.as_str() {
            "AccessDeniedException" => {
                return Self::Refused {
                    profile: profile.to_string(),
                    detail,
                }
            }
            "ValidationException" => "check `sso_agent_license_token_properties` against the properties the token was created with, or import the token again",
            "AuthorizationException" => "the token's account does not allow GetAccessToken; ask its administrator to check the IAM policy",
            "RateLimitExceededException" => "too many requests even after retrying; try again in a minute",
            "ServerInternalException" => "License Manager failed on its side; try again shortly",
            // GetAccessToken is sent unsigned, as its API allows: these come from an endpoint
            // that wants a signed request, so not License Manager's own.
            "MissingAuthenticationTokenException"
            | "MissingAuthenticationToken"
            | "UnrecognizedClientException"
            | "IncompleteSignatureException"
            | "InvalidSignatureException" => "GetAccessToken is sent unsigned (it is authorized by the token itself) and this endpoint wanted a signed request; check that the profile's `region` and AWS_ENDPOINT_URL_LICENSE_MANAGER point at License Manager, not at a proxy or another service",
            _ => "try again; if it persists, check the profile's `region` (the license's home Region)",
        };
        Self::LicenseManager {
            profile: profile.to_string(),
            code,
            detail,
            fix,
        }
    }

    /// An AssumeRoleWithWebIdentity failure, by its modeled error.
    pub fn from_assume_role(profile: &str, role_arn: &str, failure: CallFailure) -> Self {
        let (code, detail) = match failure {
            CallFailure::Transport { detail } => {
                return Self::Unreachable {
                    profile: profile.to_string(),
                    service: "STS",
                    variable: "AWS_ENDPOINT_URL_STS",
                    detail,
                }
            }
            CallFailure::Service { code, description } => (code, description),
        };
        let fix = match code.as_str() {
            "InvalidIdentityToken" => "the access token was not accepted; try again, and if it persists import or create the token again",
            "ExpiredTokenException" => "the access token expired on the way; try again",
            "IDPRejectedClaim" => "the role is not one of the token's roles; set `sso_agent_license_role_arn` to a role the token was created for, or create a token for this role",
            "PackedPolicyTooLarge" => "the session policy is too large; shorten it",
            "RegionDisabledException" => "STS is not activated in this Region for the role's account; activate it in the IAM console or use another `region`",
            "IDPCommunicationError" => "STS could not reach License Manager; try again shortly",
            _ => "check the role ARN and the profile's `region`",
        };
        Self::Sts {
            profile: profile.to_string(),
            role_arn: role_arn.to_string(),
            code,
            detail,
            fix,
        }
    }

    /// Whether asking again cannot help until the token is replaced.
    pub fn needs_new_token(&self) -> bool {
        matches!(
            self,
            Self::NoToken { .. } | Self::Expired { .. } | Self::Refused { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(code: &str) -> CallFailure {
        CallFailure::Service {
            code: code.into(),
            description: "why".into(),
        }
    }

    #[test]
    fn every_modeled_error_has_its_own_fix() {
        let generic = LicenseFailure::from_get_access_token("p", service("Other")).to_string();
        for code in [
            "ValidationException",
            "AuthorizationException",
            "RateLimitExceededException",
            "ServerInternalException",
            "MissingAuthenticationTokenException",
            "UnrecognizedClientException",
            "IncompleteSignatureException",
        ] {
            let message = LicenseFailure::from_get_access_token("p", service(code)).to_string();
            assert!(message.contains(code), "{message}");
            assert_ne!(message.replace(code, "Other"), generic, "{code}");
        }
        let refused = LicenseFailure::from_get_access_token("p", service("AccessDeniedException"));
        assert!(refused.needs_new_token());
        assert!(refused
            .to_string()
            .contains("license create-token --profile p"));

        let generic = LicenseFailure::from_assume_role("p", "r", service("Other")).to_string();
        for code in [
            "InvalidIdentityToken",
            "ExpiredTokenException",
            "IDPRejectedClaim",
            "PackedPolicyTooLarge",
            "RegionDisabledException",
            "IDPCommunicationError",
        ] {
            let message = LicenseFailure::from_assume_role("p", "r", service(code)).to_string();
            assert_ne!(message.replace(code, "Other"), generic, "{code}");
        }
    }

    #[test]
    fn an_unreachable_service_names_its_endpoint_variable() {
        let transport = || CallFailure::Transport {
            detail: "the connection failed or was reset".into(),
        };
        assert!(LicenseFailure::from_get_access_token("p", transport())
            .to_string()
            .contains("AWS_ENDPOINT_URL_LICENSE_MANAGER"));
        assert!(LicenseFailure::from_assume_role("p", "r", transport())
            .to_string()
            .contains("AWS_ENDPOINT_URL_STS"));
    }
}
