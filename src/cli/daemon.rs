//! `sso-agent daemon`: the agent in the foreground (what units and autostart run).

use anyhow::{Context, Result};
use sso_agent::agent::daemon;

pub fn run() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let socket = daemon::claim_or_inherit(&sso_agent::paths::socket_path())?;
        daemon::run(socket).await?;
        Ok(())
    })
}
