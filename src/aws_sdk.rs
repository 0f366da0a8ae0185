//! The AWS SDK configuration every sso-oidc and sso client is built from.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_sdk_ssooidc::error::{ProvideErrorMetadata, SdkError};
use aws_types::os_shim_internal::Env;

/// The shared configuration for one IAM Identity Center region. Endpoints follow the SDK's own
/// rules (`AWS_ENDPOINT_URL_SSO_OIDC`, `AWS_ENDPOINT_URL_SSO`, `AWS_ENDPOINT_URL`, `services`
/// sections of the config file); the calls are unsigned, so no credentials are looked up.
pub async fn sdk_config(region: &str) -> SdkConfig {
    let env = Env::real();
    let profile = env.get("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    let text = std::fs::read_to_string(crate::config::config_file_path(&env)).unwrap_or_default();
    // The SDK is given the sections it reads and nothing else: parsing a config of thousands of
    // profiles a second time costs the agent megabytes, and the credentials file (static keys)
    // is never read at all.
    let files = EnvConfigFiles::builder()
        .include_default_config_file(false)
        .include_default_credentials_file(false)
        .with_contents(
            EnvConfigFileKind::Config,
            sections_the_sdk_reads(&text, &profile),
        )
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .no_credentials()
        .profile_files(files)
        .timeout_config(timeouts())
        .load()
        .await
}

/// The sso-oidc endpoint clients built from `sdk` call, resolved as the SDK resolves it: the
/// service's own setting (`AWS_ENDPOINT_URL_SSO_OIDC`, a `services` section), then the global
/// one (`AWS_ENDPOINT_URL`, `endpoint_url`), then AWS's endpoint for the region.
pub fn oidc_endpoint(sdk: &SdkConfig, region: &str) -> String {
    use aws_types::service_config::ServiceConfigKey;
    let key = ServiceConfigKey::builder()
        .service_id("SSO OIDC")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .expect("every field is set");
    sdk.service_config()
        .and_then(|config| config.load_config(key))
        .or_else(|| sdk.endpoint_url().map(str::to_string))
        .unwrap_or_else(|| aws_oidc_endpoint(region))
}

/// AWS's own sso-oidc endpoint for a region (the China partition has its own domain).
pub fn aws_oidc_endpoint(region: &str) -> String {
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://oidc.{region}.{domain}")
}

/// The config text without the sections the SDK would not look at: other profiles and the
/// sso-sessions. Anything else (`services` sections, headers it cannot read) is kept, so the
/// SDK decides on it as it would on the whole file.
fn sections_the_sdk_reads(text: &str, profile: &str) -> String {
    let mut kept = String::new();
    let mut keep = true;
    for line in text.lines() {
        if line.starts_with('[') {
            keep = section_is_read(line, profile);
        }
        if keep {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    kept
}

fn section_is_read(header: &str, profile: &str) -> bool {
    // As the SDK's parser reads a header: a comment may follow the closing bracket.
    let header = header.split(['#', ';']).next().unwrap_or_default().trim();
    let Some(name) = header
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
    else {
        return true;
    };
    let words: Vec<&str> = name.split_whitespace().collect();
    match words.as_slice() {
        ["default"] => profile == "default",
        ["profile", name] => *name == profile,
        ["sso-session", _] => false,
        _ => true,
    }
}

/// The SDK sets no operation timeout by default: a stalled connection would hold a request (and
/// every caller waiting on its single flight) forever. Each attempt gets 10 s, the whole call
/// with its retries 30 s.
fn timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .operation_attempt_timeout(std::time::Duration::from_secs(10))
        .operation_timeout(std::time::Duration::from_secs(30))
        .build()
}

/// An SDK failure reduced to what the flows decide on.
#[derive(Debug)]
pub enum CallFailure {
    /// The service answered with a modeled (or at least named) error.
    Service { code: String, description: String },
    /// No usable answer: connection, timeout, or a body that is not the service's.
    Transport { detail: String },
}

impl CallFailure {
    pub fn from_sdk<E, R>(err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        match &err {
            SdkError::ServiceError(service) => match service.err().code() {
                Some(code) => Self::Service {
                    code: code.to_string(),
                    description: service.err().message().unwrap_or_default().to_string(),
                },
                None => Self::Transport {
                    detail: "the answer could not be understood".into(),
                },
            },
            SdkError::TimeoutError(_) => Self::Transport {
                detail: "the request timed out".into(),
            },
            SdkError::DispatchFailure(failure) if failure.is_io() => Self::Transport {
                detail: "the connection failed or was reset".into(),
            },
            _ => Self::Transport {
                detail: aws_sdk_ssooidc::error::DisplayErrorContext(&err).to_string(),
            },
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Service { code, .. } => Some(code),
            Self::Transport { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn the_sdk_gets_the_active_profile_and_the_services_sections_only() {
        let text = "# top\n[default]\nregion = eu-west-1\n\
                    [profile dev] # mine\nservices = local\nsso_session = corp\n\
                    [profile  other]\nendpoint_url = http://other\n\
                    [sso-session corp]\nsso_start_url = https://corp.example/start\n\
                    [services local]\nsso =\n  endpoint_url = http://127.0.0.1:9\n\
                    [odd header\nkey = value\n";
        assert_eq!(
            sections_the_sdk_reads(text, "dev"),
            "# top\n[profile dev] # mine\nservices = local\nsso_session = corp\n\
             [services local]\nsso =\n  endpoint_url = http://127.0.0.1:9\n\
             [odd header\nkey = value\n"
        );
        assert!(sections_the_sdk_reads(text, "default").contains("[default]\nregion = eu-west-1\n"));
        assert!(!sections_the_sdk_reads(text, "default").contains("[profile"));
    }

    #[tokio::test]
    async fn every_call_has_a_time_limit() {
        let sdk = sdk_config("us-east-1").await;
        let timeouts = sdk.timeout_config().expect("set");
        assert_eq!(
            timeouts.operation_timeout(),
            Some(std::time::Duration::from_secs(30))
        );
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(std::time::Duration::from_secs(10))
        );
    }

    /// Every other test talks plain HTTP to the emulator; real AWS needs TLS. The client this
    /// configuration builds must open an https endpoint with a TLS handshake.
    #[tokio::test]
    async fn the_default_http_client_speaks_tls() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("https://{}", listener.local_addr().unwrap());
        let sdk = sdk_config("us-east-1").await;
        let client = aws_sdk_ssooidc::Client::from_conf(
            aws_sdk_ssooidc::config::Builder::from(&sdk)
                .endpoint_url(endpoint)
                .retry_config(aws_sdk_ssooidc::config::retry::RetryConfig::disabled())
                .build(),
        );
        let call = tokio::spawn(async move {
            client
                .register_client()
                .client_name("tls-probe")
                .client_type("public")
                .send()
                .await
        });
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut record_header = [0u8; 5];
        socket.read_exact(&mut record_header).await.unwrap();
        // A TLS record: content type 22 (handshake), protocol major version 3.
        assert_eq!(
            record_header[0], 0x16,
            "not a TLS handshake: {record_header:?}"
        );
        assert_eq!(record_header[1], 0x03);
        let mut hello =
            vec![0u8; usize::from(u16::from_be_bytes([record_header[3], record_header[4]]))];
        socket.read_exact(&mut hello).await.unwrap();
        assert_eq!(
            hello[0], 0x01,
            "the first handshake message is a ClientHello"
        );
        drop(socket);
        assert!(call.await.unwrap().is_err(), "no TLS server answered");
    }
}
