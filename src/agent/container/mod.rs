//! The container-credentials endpoint: for tools that read no `~/.aws/config` profile, and for
//! runs longer than one set of role credentials. It listens on loopback TCP only, from the first
//! grant on, and serves from the same role cache and single flight as the socket.

mod endpoint;
mod grants;
mod process;

use super::Agent;
use crate::protocol::{ContainerGrant, ErrorKind, GrantStatus, Response};
use grants::{Ends, Grants};
pub use process::Caller;
pub(crate) use process::ProcessWatch;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// `SSO_AGENT_ECS_LISTEN=127.0.0.1:PORT`: a fixed port instead of an ephemeral one.
pub const LISTEN_VAR: &str = "SSO_AGENT_ECS_LISTEN";
/// A grant not tied to a process lasts this long unless asked otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(12 * 3600);
/// And at most this long.
pub const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Ended grants are dropped (and their process handles closed) this often, besides on use.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

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
            let setting = if std::env::var_os(LISTEN_VAR).is_some() {
                format!(" ({LISTEN_VAR}; pick a free port there, or unset it for an ephemeral one)")
            } else {
                String::new()
            };
            format!("the container-credentials endpoint cannot listen on {wanted}: {err}{setting}")
        })?;
        let address = listener
            .local_addr()
            .map_err(|err| format!("the container-credentials endpoint: {err}"))?;
        tracing::info!("container-credentials endpoint listening on http://{address}");
        tokio::spawn(endpoint::serve(listener, agent.clone()));
        tokio::spawn(sweep_ended(agent.clone()));
        *listening = Some(address);
        Ok(address)
    }
}

/// Drops ended grants now and then, so a grant nobody asks with again does not hold its
/// process handle until the next request.
async fn sweep_ended(agent: Arc<Agent>) {
    let mut stop = agent.stopping();
    loop {
        tokio::select! {
            () = tokio::time::sleep(SWEEP_EVERY) => agent.container.grants.sweep(),
            () = super::stopped(&mut stop) => return,
        }
    }
}

/// `Request::ContainerGrant`: a token for `profile`, ending after `ttl_seconds` or, with
/// `for_caller`, when the calling process exits.
pub async fn grant(
    agent: &Arc<Agent>,
    profile: &str,
    ttl_seconds: Option<u64>,
    for_caller: bool,
    caller: Option<Caller<'_>>,
) -> super::Reply {
    let refuse = |kind, message: String| super::error(kind, message);
    // The profile must be one the agent serves before anyone gets a token for it.
    // A License Manager profile's grant is tied to its role key's `session`, the profile itself.
    let session = match agent.config.served_role(profile).await {
        Ok(role) => role.session().to_string(),
        Err(err) => return refuse(ErrorKind::Config, err.to_string()),
    };
    let (ends, expires_at) = if for_caller {
        let Some(caller) = caller else {
            return refuse(
                ErrorKind::BadRequest,
                "a grant for the caller needs a connection that tells its process".into(),
            );
        };
        match ProcessWatch::of_caller(caller) {
            Ok(watch) => (Ends::WithProcess(watch), None),
            Err(err) => {
                return refuse(
                    ErrorKind::BadRequest,
                    format!("cannot watch the calling process: {err}"),
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
        // Whole seconds, as every other time the agent shows.
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(now.as_secs()) + ttl;
        (Ends::At(at), Some(super::roles::rfc3339(at)))
    };
    let address = match agent.container.address(agent).await {
        Ok(address) => address,
        Err(message) => return refuse(ErrorKind::Config, message),
    };
    let token = match agent.container.grants.issue(profile, &session, ends) {
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

/// `Request::ContainerRevoke`: ends the profile's `ecs-env` grants (a running `exec --ecs`
/// keeps its own: it ends with its command).
pub async fn revoke(agent: &Agent, profile: &str) -> super::Reply {
    // A mistyped name would end nothing and say so as if all were well.
    if let Err(err) = agent.config.served_role(profile).await {
        return super::error(ErrorKind::Config, err.to_string());
    }
    let ended = agent.container.grants.revoke_timed(profile);
    Response::ContainerRevoked { ended }.into()
}

/// A logout ends every grant made through the sessions it logged out of: the tokens must not
/// outlive the login they were given under.
pub fn revoke_sessions(agent: &Agent, sessions: &[String]) -> usize {
    agent.container.grants.revoke_sessions(sessions)
}

/// Grants alive now, for `status`: never a token.
pub fn live_grants(agent: &Agent) -> Vec<GrantStatus> {
    agent
        .container
        .grants
        .views()
        .into_iter()
        .map(|view| GrantStatus {
            profile: view.profile,
            ends_at: view.ends_at.map(super::roles::rfc3339),
            pid: view.pid,
        })
        .collect()
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
