//! `sso-agent console --profile P`: the AWS console, signed in as the profile's role.
//!
//! 1. The role credentials come from the agent exactly as `credential-process` gets them
//!    (`sso_agent::credential_process::fetch`: autostart, a pending login shown and waited for).
//! 2. The federation endpoint's `Action=getSigninToken` trades them (the `Session` JSON) and a
//!    `SessionDuration` for a sign-in token.
//! 3. The `Action=login` link with `Issuer`, `Destination` and `SigninToken` is opened in the
//!    browser, or with `--print` written to stdout.
//!
//! The sign-in token lets anyone who has it into the console for 15 minutes: it goes to stdout
//! (`--print`) or to the browser only (through a one-use loopback redirect, never on the
//! browser's command line: `redirect`), never to stderr, a log or an error. This command sets up
//! no log subscriber (main.rs), so no library can log the request's URI, which carries the
//! credentials.
//!
//! The HTTP call uses `aws-smithy-http-client`'s connector, the hyper 1 + rustls (aws-lc) client
//! the SDKs already link (native roots, `HTTPS_PROXY`/`NO_PROXY` from the environment), rather
//! than a second HTTP stack; Cargo.toml says the same.

mod redirect;

use anyhow::{bail, Context, Result};
use aws_smithy_http_client::{proxy::ProxyConfig, tls, Connector};
use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorSettings};
use aws_smithy_types::body::SdkBody;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use sso_agent::config::AwsConfig;
use sso_agent::protocol::Credentials;
use std::time::Duration;
use url::Url;

/// Overrides the federation endpoint (the whole URL): tests, private partitions.
pub const FEDERATION_URL_VAR: &str = "SSO_AGENT_FEDERATION_URL";
/// `SessionDuration` bounds the federation endpoint takes (IAM User Guide, "Enable custom
/// identity broker access to the AWS console").
pub const DURATION_MIN: u64 = 900;
pub const DURATION_MAX: u64 = 43200;
const ISSUER: &str = "sso-agent";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(30);
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// The answer is a few hundred bytes; anything far larger is not the federation endpoint.
const MAX_ANSWER: usize = 64 * 1024;

pub fn run(profile: &str, print: bool, destination: Option<String>, duration: u64) -> Result<()> {
    if !(DURATION_MIN..=DURATION_MAX).contains(&duration) {
        bail!(
            "--duration {duration} is outside what the federation endpoint takes: give {DURATION_MIN} to {DURATION_MAX} seconds (15 minutes to 12 hours)"
        );
    }
    if let Some(destination) = &destination {
        check_destination(destination)?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let config = runtime.block_on(AwsConfig::load())?;
    let profile_config = config.profile(profile)?;
    // The profile's `region`, else its sso-session's: the console needs some region to show.
    let region = profile_config
        .region
        .clone()
        .unwrap_or_else(|| profile_config.session.region.clone());
    let partition = Partition::of(&region)?;
    let endpoint = federation_endpoint(partition)?;
    let destination = destination.unwrap_or_else(|| partition.console_home(&region));

    let credentials = sso_agent::credential_process::fetch(profile)?;
    let token = runtime.block_on(get_signin_token(&endpoint, &credentials, duration, profile))?;
    let link = zeroize::Zeroizing::new(login_url(&endpoint, &destination, &token));

    let role = format!(
        "role {} in account {} (profile {profile})",
        profile_config.role_name, profile_config.account_id
    );
    let can_open = super::login::can_open_browser(|name| {
        std::env::var_os(name).is_some_and(|value| !value.is_empty())
    });
    if print || !can_open {
        if !print {
            eprintln!("No browser here (no DISPLAY, WAYLAND_DISPLAY or BROWSER): the sign-in link for {role} is on stdout; open it within 15 minutes.");
        }
        println!("{}", link.as_str());
        return Ok(());
    }
    let print_instead =
        format!("run `sso-agent console --profile {profile} --print` and open the link it prints");
    let opened = runtime.block_on(redirect::open_once(&link, redirect::BROWSER_WAIT, |url| {
        // webbrowser's errors name the program, never the URL; only the kind is shown.
        webbrowser::open(url)
            .map_err(|err| anyhow::anyhow!("could not open a browser ({:?})", err.kind()))?;
        eprintln!(
            "Waiting for the browser to open the console (up to {} s; if none opens, press Ctrl-C and use --print)…",
            redirect::BROWSER_WAIT.as_secs()
        );
        Ok(())
    }));
    match opened {
        Ok(()) => {
            eprintln!("Opened the AWS console as {role} in your browser.");
            Ok(())
        }
        Err(err) => bail!("{err}; {print_instead}"),
    }
}

/// The partition a region is in, which names the sign-in and console hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Partition {
    Aws,
    UsGov,
    China,
}

impl Partition {
    fn of(region: &str) -> Result<Self> {
        if region.starts_with("us-gov-") {
            Ok(Self::UsGov)
        } else if region.starts_with("cn-") {
            Ok(Self::China)
        } else if region.contains("-iso") {
            // us-iso-*, us-isob-*, eu-isoe-*, us-isof-*: air-gapped, no public sign-in host.
            bail!("region {region} is in an isolated partition with no public console sign-in: set {FEDERATION_URL_VAR} to its federation endpoint and pass --destination")
        } else {
            Ok(Self::Aws)
        }
    }

    fn federation_url(self) -> &'static str {
        match self {
            Self::Aws => "https://signin.aws.amazon.com/federation",
            Self::UsGov => "https://signin.amazonaws-us-gov.com/federation",
            Self::China => "https://signin.amazonaws.cn/federation",
        }
    }

    fn console_home(self, region: &str) -> String {
        let host = match self {
            Self::Aws => format!("{region}.console.aws.amazon.com"),
            Self::UsGov => "console.amazonaws-us-gov.com".to_string(),
            Self::China => "console.amazonaws.cn".to_string(),
        };
        format!("https://{host}/console/home?region={region}")
    }
}

/// The federation endpoint: `SSO_AGENT_FEDERATION_URL`, else the partition's. Plain http only to
/// a loopback host: the credentials travel in the request.
fn federation_endpoint(partition: Partition) -> Result<Url> {
    let Some(text) = std::env::var(FEDERATION_URL_VAR)
        .ok()
        .filter(|text| !text.is_empty())
    else {
        return Ok(Url::parse(partition.federation_url()).expect("the built-in URLs parse"));
    };
    let url = Url::parse(&text)
        .with_context(|| format!("{FEDERATION_URL_VAR}={text} is not a URL; give the federation endpoint's whole URL, as https://signin.aws.amazon.com/federation"))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => bail!("{FEDERATION_URL_VAR}={text}: the role credentials are sent there, so it must be https (plain http only to 127.0.0.1 or localhost)"),
    }
}

fn check_destination(destination: &str) -> Result<()> {
    match Url::parse(destination) {
        Ok(url) if matches!(url.scheme(), "https" | "http") => Ok(()),
        _ => bail!("--destination {destination} is not an http(s) URL; give a console page, as https://us-east-1.console.aws.amazon.com/s3/home"),
    }
}

/// The `Action=login` link that signs a browser in with `token` and lands on `destination`.
fn login_url(endpoint: &Url, destination: &str, token: &str) -> String {
    let mut url = endpoint.clone();
    url.query_pairs_mut()
        .append_pair("Action", "login")
        .append_pair("Issuer", ISSUER)
        .append_pair("Destination", destination)
        .append_pair("SigninToken", token);
    url.into()
}

/// `Action=getSigninToken`: the role credentials for a sign-in token.
async fn get_signin_token(
    endpoint: &Url,
    credentials: &Credentials,
    duration: u64,
    profile: &str,
) -> Result<zeroize::Zeroizing<String>> {
    let session = zeroize::Zeroizing::new(
        serde_json::json!({
            "sessionId": credentials.access_key_id,
            "sessionKey": credentials.secret_access_key,
            "sessionToken": credentials.session_token,
        })
        .to_string(),
    );
    let mut url = endpoint.clone();
    url.query_pairs_mut()
        .append_pair("Action", "getSigninToken")
        .append_pair("SessionDuration", &duration.to_string())
        .append_pair("Session", &session);
    let url = zeroize::Zeroizing::new(String::from(url));
    // Where the request went, for messages: never its query.
    let shown = {
        let mut shown = endpoint.clone();
        shown.set_query(None);
        shown.to_string()
    };
    let secrets = secret_forms(&[
        credentials.secret_access_key.as_str(),
        credentials.session_token.as_str(),
        session.as_str(),
        url.as_str(),
    ]);
    let secrets: Vec<&str> = secrets.iter().map(|secret| secret.as_str()).collect();

    let connector = Connector::builder()
        .connector_settings(
            HttpConnectorSettings::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(READ_TIMEOUT)
                .build(),
        )
        .proxy_config(ProxyConfig::from_env())
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build();
    let mut request = aws_smithy_runtime_api::http::Request::new(SdkBody::empty());
    request.set_uri(url.as_str()).map_err(|_| {
        anyhow::anyhow!("the federation endpoint {shown} does not make a valid request URL")
    })?;
    request.headers_mut().insert("accept", "application/json");
    let unreachable = |detail: String| {
        anyhow::anyhow!(
            "cannot reach the federation endpoint {shown}: {}",
            redact(&detail, &secrets)
        )
    };
    let response = tokio::time::timeout(CALL_TIMEOUT, connector.call(request))
        .await
        .map_err(|_| unreachable(format!("no answer in {} s", CALL_TIMEOUT.as_secs())))?
        .map_err(|err| unreachable(error_chain(&err)))?;
    let status = response.status().as_u16();
    // Read up to the cap only: whatever answers is not made to hold more in memory.
    let body = tokio::time::timeout(
        CALL_TIMEOUT,
        Limited::new(response.into_body(), MAX_ANSWER).collect(),
    )
    .await
    .map_err(|_| unreachable("the answer did not finish".into()))?;
    let body = match body {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.is::<LengthLimitError>() => bail!(
            "the federation endpoint {shown} answered more than {} KiB, not a sign-in token; check {FEDERATION_URL_VAR}",
            MAX_ANSWER / 1024
        ),
        Err(err) => return Err(unreachable(err.to_string())),
    };
    let text = String::from_utf8_lossy(&body);
    match status {
        200 => {
            #[derive(serde::Deserialize)]
            struct Answer {
                #[serde(rename = "SigninToken")]
                signin_token: String,
            }
            match serde_json::from_str::<Answer>(&text) {
                Ok(answer) if !answer.signin_token.is_empty() => {
                    Ok(zeroize::Zeroizing::new(answer.signin_token))
                }
                _ => bail!("the federation endpoint {shown} answered without a SigninToken; check {FEDERATION_URL_VAR} (or that nothing in between rewrites the answer)"),
            }
        }
        400..=499 => {
            let reason = status_message(&text).map(|reason| redact(&reason, &secrets));
            match reason {
                // The endpoint's one answer for credentials it does not take (unknown, wrong or
                // expired): only new ones help.
                Some(reason) if reason.to_ascii_lowercase().contains("credentials") => bail!(
                    "the role credentials were refused by the federation endpoint {shown}: {reason}; for new ones run `sso-agent logout --profile {profile}`, then `sso-agent login --profile {profile}`, and try again"
                ),
                Some(reason) => bail!(
                    "the federation endpoint {shown} refused the request: {reason} (HTTP {status}); check --duration and --destination, and {FEDERATION_URL_VAR} if it is set"
                ),
                None => bail!(
                    "the federation endpoint {shown} answered HTTP {status}; check {FEDERATION_URL_VAR} if it is set, or try again later"
                ),
            }
        }
        _ => bail!("the federation endpoint {shown} answered HTTP {status}; try again later"),
    }
}

/// The message of the endpoint's HTML status page (`<h1>HTTP Status 400 - Invalid credentials
/// parameter</h1>`), tags stripped and cut short; None when the body has none.
fn status_message(body: &str) -> Option<String> {
    let start = body.find("HTTP Status")?;
    let rest = &body[start..];
    let end = rest.find('<').unwrap_or(rest.len());
    let line: String = rest[..end]
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let message = line
        .split_once(" - ")
        .map(|(_, message)| message)
        .unwrap_or(&line)
        .trim()
        .to_string();
    (!message.is_empty()).then_some(message)
}

/// An error and its sources, `: `-joined ("io error: client error (Connect): tcp connect error:
/// Connection refused (os error 111)"), without the Debug dump DisplayErrorContext adds.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some layers repeat their source's message in their own.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Each secret as it is, and as it travels in a query string (form-encoded, and percent-encoded
/// as other layers write it), longest first: an error that quotes the request shows any of them.
fn secret_forms(secrets: &[&str]) -> Vec<zeroize::Zeroizing<String>> {
    let mut forms: Vec<zeroize::Zeroizing<String>> = secrets
        .iter()
        .filter(|secret| !secret.is_empty())
        .flat_map(|secret| {
            [
                secret.to_string(),
                url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
                percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
                    .to_string(),
            ]
        })
        .map(zeroize::Zeroizing::new)
        .collect();
    forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    forms.dedup();
    forms
}

/// `text` with every secret in it replaced.
fn redact(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|secret| !secret.is_empty())
        .fold(text.to_string(), |text, secret| {
            text.replace(secret, "<redacted>")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partition_follows_the_region() {
        assert_eq!(Partition::of("eu-west-1").unwrap(), Partition::Aws);
        assert_eq!(Partition::of("us-gov-west-1").unwrap(), Partition::UsGov);
        assert_eq!(Partition::of("cn-north-1").unwrap(), Partition::China);
        assert!(Partition::of("us-iso-east-1").is_err());
        assert_eq!(
            Partition::Aws.console_home("eu-west-1"),
            "https://eu-west-1.console.aws.amazon.com/console/home?region=eu-west-1"
        );
        assert_eq!(
            Partition::UsGov.console_home("us-gov-west-1"),
            "https://console.amazonaws-us-gov.com/console/home?region=us-gov-west-1"
        );
        assert_eq!(
            Partition::China.console_home("cn-north-1"),
            "https://console.amazonaws.cn/console/home?region=cn-north-1"
        );
        assert_eq!(
            Partition::China.federation_url(),
            "https://signin.amazonaws.cn/federation"
        );
        assert_eq!(
            Partition::UsGov.federation_url(),
            "https://signin.amazonaws-us-gov.com/federation"
        );
    }

    #[test]
    fn the_login_link_carries_issuer_destination_and_token() {
        let endpoint = Url::parse("https://signin.aws.amazon.com/federation").unwrap();
        let link = login_url(&endpoint, "https://x.example/a?b=c&d", "tok+/=");
        let url = Url::parse(&link).unwrap();
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            [
                ("Action".into(), "login".into()),
                ("Issuer".into(), "sso-agent".into()),
                ("Destination".into(), "https://x.example/a?b=c&d".into()),
                ("SigninToken".into(), "tok+/=".into()),
            ]
        );
    }

    #[test]
    fn the_status_page_gives_its_message_and_secrets_are_redacted() {
        let page = "<html><h1>HTTP Status 400 - Invalid credentials parameter</h1><p>x</p>";
        assert_eq!(
            status_message(page).as_deref(),
            Some("Invalid credentials parameter")
        );
        assert_eq!(status_message("Bad Request"), None);
        assert_eq!(redact("a SECRET b", &["SECRET", ""]), "a <redacted> b");
        let forms = secret_forms(&["k/+= y"]);
        let forms: Vec<&str> = forms.iter().map(|form| form.as_str()).collect();
        for shown in ["k/+= y", "k%2F%2B%3D+y", "k%2F%2B%3D%20y"] {
            assert_eq!(
                redact(&format!("<{shown}>"), &forms),
                "<<redacted>>",
                "{shown}"
            );
        }
    }
}
