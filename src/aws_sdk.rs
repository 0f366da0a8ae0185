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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

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
