//! The pure parts of the authorization-code grant with PKCE (RFC 7636): a fresh verifier and its
//! S256 challenge, the `state` that must come back unchanged, and the authorize URL on the
//! sso-oidc endpoint, with the parameters the AWS CLI sends.

use crate::secret::Secret;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
/// The redirect URI registered (RFC 8252 §7.3: the port is chosen per login and not compared).
pub const REGISTERED_REDIRECT_URI: &str = "http://127.0.0.1/oauth/callback";
pub const CALLBACK_PATH: &str = "/oauth/callback";

/// One login's secret and public halves: `verifier` goes only to CreateToken, `challenge` into
/// the authorize URL; `state` ties the callback to this login.
pub struct PkceLogin {
    pub verifier: Secret,
    pub challenge: String,
    pub state: String,
}

impl PkceLogin {
    /// Fresh random values from the OS: a verifier of 64 characters (48 random bytes, base64url:
    /// every character in RFC 7636's unreserved set, 384 bits), a state of 128 bits.
    pub fn new() -> Result<Self, getrandom::Error> {
        let mut bytes = zeroize::Zeroizing::new([0u8; 48]);
        getrandom::fill(bytes.as_mut())?;
        let verifier = Secret::new(URL_SAFE_NO_PAD.encode(bytes.as_ref()));
        let mut state = [0u8; 16];
        getrandom::fill(&mut state)?;
        Ok(Self {
            challenge: challenge(verifier.expose()),
            verifier,
            state: URL_SAFE_NO_PAD.encode(state),
        })
    }
}

/// S256: base64url(sha256(verifier)), no padding.
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The loopback redirect URI of a listener on `port`.
pub fn redirect_uri(port: u16) -> String {
    format!("http://127.0.0.1:{port}{CALLBACK_PATH}")
}

/// `{endpoint}/authorize?response_type=code&client_id&redirect_uri&state&code_challenge_method
/// &scopes&code_challenge`, as the AWS CLI builds it (`scopes` space-joined).
pub fn authorize_url(
    endpoint: &str,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    challenge: &str,
    scopes: &[String],
) -> Result<String, url::ParseError> {
    let mut url = url::Url::parse(&format!("{}/authorize", endpoint.trim_end_matches('/')))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state)
        .append_pair("code_challenge_method", "S256")
        .append_pair("scopes", &scopes.join(" "))
        .append_pair("code_challenge", challenge);
    Ok(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn the_challenge_is_rfc_7636_s256() {
        // RFC 7636 appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn each_login_has_a_fresh_long_verifier_of_unreserved_characters() {
        let one = PkceLogin::new().unwrap();
        let two = PkceLogin::new().unwrap();
        let verifier = one.verifier.expose();
        assert_eq!(verifier.len(), 64);
        assert!(verifier
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c)));
        assert_ne!(verifier, two.verifier.expose());
        assert_ne!(one.state, two.state);
        assert!(one.state.len() >= 22);
        assert_eq!(one.challenge, challenge(verifier));
        // The verifier is a secret: Debug never shows it.
        assert!(!format!("{:?}", one.verifier).contains(verifier));
    }

    #[test]
    fn the_authorize_url_carries_what_the_aws_cli_sends() {
        let url = authorize_url(
            "https://oidc.us-east-1.amazonaws.com/",
            "client-1",
            &redirect_uri(4321),
            "st@te",
            "chal",
            &["sso:account:access".into(), "openid".into()],
        )
        .unwrap();
        let url = url::Url::parse(&url).unwrap();
        assert_eq!(url.host_str(), Some("oidc.us-east-1.amazonaws.com"));
        assert_eq!(url.path(), "/authorize");
        let query: HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(query["response_type"], "code");
        assert_eq!(query["client_id"], "client-1");
        assert_eq!(
            query["redirect_uri"],
            "http://127.0.0.1:4321/oauth/callback"
        );
        assert_eq!(query["state"], "st@te");
        assert_eq!(query["code_challenge_method"], "S256");
        assert_eq!(query["code_challenge"], "chal");
        assert_eq!(query["scopes"], "sso:account:access openid");
    }
}
