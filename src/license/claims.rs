//! What a refresh token says about itself: its id, license and expiry, read from its claims
//! (base64url JSON). Only read, never verified: License Manager verifies its own tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub token_id: String,
    pub license_arn: String,
    /// Seconds since the epoch.
    pub expires_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    #[error("this is not a JWT (three base64url parts separated by dots); pass the Token CreateToken returned, as it is")]
    NotJwt,
    #[error("this JWT has no `{0}` claim, so it is not a License Manager refresh token; pass the Token CreateToken returned")]
    MissingClaim(&'static str),
}

#[derive(Deserialize)]
struct Raw {
    jti: Option<String>,
    aud: Option<Audience>,
    exp: Option<u64>,
}

/// `aud` may be one string or a list (RFC 7519).
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl TokenClaims {
    pub fn read(token: &str) -> Result<Self, ClaimsError> {
        let parts: Vec<&str> = token.trim().split('.').collect();
        let [header, body, _signature] = parts.as_slice() else {
            return Err(ClaimsError::NotJwt);
        };
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part.trim_end_matches('='));
        let header = decode(header).map_err(|_| ClaimsError::NotJwt)?;
        serde_json::from_slice::<serde_json::Value>(&header).map_err(|_| ClaimsError::NotJwt)?;
        let body = zeroize::Zeroizing::new(decode(body).map_err(|_| ClaimsError::NotJwt)?);
        let raw: Raw = serde_json::from_slice(&body).map_err(|_| ClaimsError::NotJwt)?;
        let license_arn = match raw.aud {
            Some(Audience::One(arn)) => arn,
            Some(Audience::Many(arns)) => arns
                .into_iter()
                .next()
                .ok_or(ClaimsError::MissingClaim("aud"))?,
            None => return Err(ClaimsError::MissingClaim("aud")),
        };
        Ok(Self {
            token_id: raw.jti.ok_or(ClaimsError::MissingClaim("jti"))?,
            license_arn,
            expires_at: raw.exp.ok_or(ClaimsError::MissingClaim("exp"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn reads_id_license_and_expiry() {
        let token = jwt(r#"{"jti":"t1","aud":"arn:aws:license-manager::1:license:l-1","exp":99}"#);
        assert_eq!(
            TokenClaims::read(&token),
            Ok(TokenClaims {
                token_id: "t1".into(),
                license_arn: "arn:aws:license-manager::1:license:l-1".into(),
                expires_at: 99
            })
        );
    }

    #[test]
    fn anything_else_is_refused_with_what_to_pass() {
        assert_eq!(TokenClaims::read("abc"), Err(ClaimsError::NotJwt));
        assert_eq!(TokenClaims::read("a.b.c"), Err(ClaimsError::NotJwt));
        assert_eq!(
            TokenClaims::read(&jwt(r#"{"jti":"t1","exp":1}"#)),
            Err(ClaimsError::MissingClaim("aud"))
        );
        assert!(ClaimsError::NotJwt.to_string().contains("CreateToken"));
    }
}
