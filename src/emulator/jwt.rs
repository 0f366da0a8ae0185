//! License Manager's JSON Web Tokens: HS256 under a key only this emulator holds, so a token
//! verifies here exactly when this emulator signed it.
//!
//! Written by hand (header, claims, HMAC) rather than with a JWT crate: the emulator signs and
//! checks one algorithm with one key, which `hmac` + `sha2` + `base64` already in the tree do in a
//! few lines; a JWT crate would add its own crypto stack for nothing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// What a refresh or access token says. `typ` tells the two apart, so a refresh token is never
/// taken where an access token is due.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    /// The token's id: the refresh token's `TokenId`; for an access token, one of its own.
    pub jti: String,
    /// `refresh` or `access`.
    pub typ: String,
    /// The license ARN.
    pub aud: String,
    /// The token properties given to CreateToken.
    pub amr: Vec<String>,
    /// The IAM roles the token may be exchanged for.
    pub roles: Vec<String>,
    /// The account that created the refresh token; for an access token, its refresh token's id.
    pub sub: String,
    pub iat: u64,
    pub exp: u64,
}

pub const REFRESH: &str = "refresh";
pub const ACCESS: &str = "access";

/// Why a token did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// Not three base64url parts with a JSON header and claims.
    Malformed,
    /// Well formed, but not signed with this emulator's key.
    Signature,
}

pub struct Signer {
    key: [u8; 32],
}

impl Signer {
    pub fn new() -> Self {
        Self {
            key: rand::random(),
        }
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
        let signing_input = format!("{header}.{body}");
        let signature = URL_SAFE_NO_PAD.encode(self.mac(&signing_input).finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }

    /// The claims of a token this emulator signed (expiry is the caller's to judge).
    pub fn verify(&self, token: &str) -> Result<Claims, Invalid> {
        let mut parts = token.split('.');
        let (Some(header), Some(body), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Invalid::Malformed);
        };
        let header: serde_json::Value = decode_json(header)?;
        let claims: Claims = decode_json(body)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| Invalid::Malformed)?;
        if header.get("alg").and_then(|alg| alg.as_str()) != Some("HS256") {
            return Err(Invalid::Signature);
        }
        // `verify_slice` compares in constant time.
        self.mac(parts_before_signature(token))
            .verify_slice(&signature)
            .map_err(|_| Invalid::Signature)?;
        Ok(claims)
    }

    fn mac(&self, signing_input: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key size");
        mac.update(signing_input.as_bytes());
        mac
    }
}

impl Default for Signer {
    fn default() -> Self {
        Self::new()
    }
}

fn parts_before_signature(token: &str) -> &str {
    token
        .rsplit_once('.')
        .map(|(head, _)| head)
        .unwrap_or(token)
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, Invalid> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Invalid::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| Invalid::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            iss: "emulator".into(),
            jti: "id".into(),
            typ: REFRESH.into(),
            aud: "arn:aws:license-manager::111122223333:license:l-1".into(),
            amr: vec!["seat=1".into()],
            roles: vec!["arn:aws:iam::111122223333:role/R".into()],
            sub: "111122223333".into(),
            iat: 1,
            exp: 2,
        }
    }

    #[test]
    fn a_signed_token_verifies_and_any_change_does_not() {
        let signer = Signer::new();
        let token = signer.sign(&claims());
        assert_eq!(signer.verify(&token), Ok(claims()));
        assert_eq!(Signer::new().verify(&token), Err(Invalid::Signature));
        let mut other = claims();
        other
            .roles
            .push("arn:aws:iam::111122223333:role/Admin".into());
        let forged = format!(
            "{}.{}.{}",
            token.split('.').next().unwrap(),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).unwrap()),
            token.rsplit('.').next().unwrap()
        );
        assert_eq!(signer.verify(&forged), Err(Invalid::Signature));
        assert_eq!(signer.verify("not-a-jwt"), Err(Invalid::Malformed));
        assert_eq!(signer.verify("a.b.c"), Err(Invalid::Malformed));
    }
}
