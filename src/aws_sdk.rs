//! The AWS SDK configuration every sso-oidc and sso client is built from.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ssooidc::error::{ProvideErrorMetadata, SdkError};

/// The shared configuration for one IAM Identity Center region. Endpoints follow the SDK's own
/// rules (`AWS_ENDPOINT_URL_SSO_OIDC`, `AWS_ENDPOINT_URL_SSO`, `AWS_ENDPOINT_URL`, `services`
/// sections of the config file); the calls are unsigned, so no credentials are looked up.
pub async fn sdk_config(region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .no_credentials()
        .timeout_config(timeouts())
        .load()
        .await
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
