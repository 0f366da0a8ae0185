//! `sso-agent daemon`: the agent in the foreground (what units and autostart run).

use anyhow::{Context, Result};
use sso_agent::agent::{container, daemon};

pub fn run() -> Result<()> {
    // A container-credentials address off loopback is refused before the agent starts.
    let listen = std::env::var(container::LISTEN_VAR).ok();
    container::listen_address(listen.as_deref()).map_err(anyhow::Error::msg)?;
    // One thread, as ssh-agent and gpg-agent are: a cached answer is a lookup and one write, so
    // a second worker only adds work stealing and cross-thread wake-ups (`scripts/bench` measured
    // more CPU per request and a longer p99 with it). Blocking calls (the keyring, desktop
    // notifications, the AWS CLI cache file) run on tokio's blocking threads, never on this one.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let socket = daemon::claim_or_inherit(&sso_agent::paths::socket_path())?;
        daemon::run(socket).await?;
        Ok(())
    })
}
