//! The container-credentials endpoint: for tools that read no `~/.aws/config` profile, and for
//! runs longer than one set of role credentials. It listens on loopback TCP only, from the first
//! grant on, and serves from the same role cache and single flight as the socket.

mod endpoint;
mod grants;
mod process;

use super::Agent;
use crate::protocol::{ContainerGrant, ErrorKind, Response};
use grants::{Ends, Grants};
use process::ProcessWatch;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// `SSO_AGENT_ECS_LISTEN=127.0.0.1:PORT`: a fixed port instead of an ephemeral one.
pub const LISTEN_VAR: &str = "SSO_AGENT_ECS_LISTEN";
/// A grant not tied to a process lasts this long unless asked otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(12 * 3600);
/// And at most this long.
pub const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Default)]
pub struct ContainerEndpoint {
    grants: Grants,
    /// Where it listens, once started.
    listening: tokio::sync::Mutex<Option<SocketAddr>>,
}

/// The address to listen on: loopback IPv4 only, as `LISTEN_VAR` says or an ephemeral port.
pub fn listen_address(setting: Option<&str>) -> Result<SocketAddr, String> {
    let Some(setting) = setting else {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
    };
    let address: SocketAddr = setting
        .parse()
        .map_err(|_| format!("{LISTEN_VAR}={setting} is not an address: write 127.0.0.1:PORT"))?;
    if address.ip() != Ipv4Addr::LOCALHOST {
        return Err(format!(
            "{LISTEN_VAR}={setting}: the container-credentials endpoint listens on 127.0.0.1 only (anything else would serve credentials to other hosts); write 127.0.0.1:PORT"
        ));
    }
    Ok(address)
}

impl ContainerEndpoint {
    /// Where the endpoint listens, starting it the first time.
    async fn address(&self, agent: &Arc<Agent>) -> Result<SocketAddr, String> {
        let mut listening = self.listening.lock().await;
        if let Some(address) = *listening {
            return Ok(address);
        }
        let wanted = listen_address(std::env::var(LISTEN_VAR).ok().as_deref())?;
        let listener = tokio::net::TcpListener::bind(wanted).await.map_err(|err| {
            format!("the container-credentials endpoint cannot listen on {wanted}: {err}")
        })?;
        let address = listener
            .local_addr()
            .map_err(|err| format!("the container-credentials endpoint: {err}"))?;
        tracing::info!("container-credentials endpoint listening on http://{address}");
        tokio::spawn(endpoint::serve(listener, agent.clone()));
        *listening = Some(address);
        Ok(address)
    }
}

/// `Request::ContainerGrant`: a token for `profile`, ending after `ttl_seconds` or, with
/// `for_caller`, when the calling process (`caller_pid`) exits.
pub async fn grant(
    agent: &Arc<Agent>,
    profile: &str,
    ttl_seconds: Option<u64>,
    for_caller: bool,
    caller_pid: Option<u32>,
) -> super::Reply {
    let refuse = |kind, message: String| super::error(kind, message);
    // The profile must be one the agent serves before anyone gets a token for it.
    if let Err(err) = agent.config.served_role(profile).await {
        return refuse(ErrorKind::Config, err.to_string());
    }
    let (ends, expires_at) = if for_caller {
        let Some(pid) = caller_pid else {
            return refuse(
                ErrorKind::BadRequest,
                "a grant for the caller needs the caller's pid, which this connection does not tell".into(),
            );
        };
        match ProcessWatch::new(pid) {
            Ok(watch) => (Ends::WithProcess(watch), None),
            Err(err) => {
                return refuse(
                    ErrorKind::BadRequest,
                    format!("cannot watch the calling process {pid}: {err}"),
                )
            }
        }
    } else {
        let ttl = ttl_seconds.map_or(DEFAULT_TTL, Duration::from_secs);
        if ttl.is_zero() || ttl > MAX_TTL {
            return refuse(
                ErrorKind::BadRequest,
                format!(
                    "a grant lasts from 1 second to {} days",
                    MAX_TTL.as_secs() / 86400
                ),
            );
        }
        let at = SystemTime::now() + ttl;
        (Ends::At(at), Some(super::roles::rfc3339(at)))
    };
    let address = match agent.container.address(agent).await {
        Ok(address) => address,
        Err(message) => return refuse(ErrorKind::Config, message),
    };
    let token = match agent.container.grants.issue(profile, ends) {
        Ok(token) => token,
        Err(message) => return refuse(ErrorKind::BadRequest, message),
    };
    Response::ContainerGrant(ContainerGrant {
        url: format!("http://{address}{}", endpoint::path_of(profile)),
        token: token.to_string(),
        expires_at,
    })
    .into()
}

/// Where the endpoint listens, once started, for `status`.
pub async fn endpoint_url(agent: &Agent) -> Option<String> {
    agent
        .container
        .listening
        .lock()
        .await
        .map(|address| format!("http://{address}"))
}

/// Grants alive now, for `status`.
pub fn live_grants(agent: &Agent) -> usize {
    agent.container.grants.live()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_ipv4_is_accepted() {
        assert_eq!(
            listen_address(None).unwrap(),
            "127.0.0.1:0".parse().unwrap()
        );
        assert_eq!(listen_address(Some("127.0.0.1:9911")).unwrap().port(), 9911);
        for refused in [
            "0.0.0.0:9911",
            "192.168.1.2:80",
            "[::]:80",
            "localhost:80",
            "9911",
        ] {
            assert!(listen_address(Some(refused)).is_err(), "{refused}");
        }
    }
}
