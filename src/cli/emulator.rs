//! `sso-agent emulator`: the IAM Identity Center emulator as a process.

use anyhow::{Context, Result};
use sso_agent::emulator::{Fixture, RunningEmulator};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

pub fn run(listen: SocketAddr, fixture: Option<PathBuf>) -> Result<()> {
    let fixture = match fixture {
        Some(path) => Fixture::load(&path).map_err(anyhow::Error::msg)?,
        None => Fixture::default(),
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let emulator = RunningEmulator::start(listen, fixture)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        // The first stdout line is a contract: tests and scripts read the address from it.
        let mut stdout = std::io::stdout();
        writeln!(stdout, "listening on {}", emulator.base_url)?;
        stdout.flush()?;
        eprintln!(
            "endpoint of sso-oidc, the sso portal, License Manager and STS: {url}\n  export AWS_ENDPOINT_URL_SSO_OIDC={url} AWS_ENDPOINT_URL_SSO={url} AWS_ENDPOINT_URL_LICENSE_MANAGER={url} AWS_ENDPOINT_URL_STS={url}\n  (before the first sso-agent command: an agent keeps the endpoints it started with)\n  control API: {url}/_emulator/ (approve, deny, scenario, log, advance); approve every login:\n  curl -sS -X PUT -H 'content-type: application/json' -d '{{\"auto_approve_after_polls\": 1}}' {url}/_emulator/scenario",
            url = emulator.base_url
        );
        sso_agent::agent::daemon::shutdown_signal().await;
        Ok(())
    })
}
