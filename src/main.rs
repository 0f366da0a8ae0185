//! The `sso-agent` command line. `anyhow` lives here only; the library has typed errors.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sso-agent",
    version,
    about = "Keeps you logged in to AWS IAM Identity Center and serves AWS credentials fast"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the IAM Identity Center emulator (sso-oidc + sso portal) on a loopback port.
    #[cfg(feature = "emulator")]
    Emulator {
        /// Address to listen on; port 0 picks a free port. Loopback only.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        /// Accounts, roles and users as JSON (default: a small built-in set).
        #[arg(long)]
        fixture: Option<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    sso_agent::logging::init();
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sso-agent: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        #[cfg(feature = "emulator")]
        Command::Emulator { listen, fixture } => run_emulator(listen, fixture),
    }
}

#[cfg(feature = "emulator")]
fn run_emulator(
    listen: std::net::SocketAddr,
    fixture: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    use sso_agent::emulator::{Fixture, RunningEmulator};
    use std::io::Write;
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
            "sso-oidc and sso portal endpoint: {url}\n  export AWS_ENDPOINT_URL_SSO_OIDC={url} AWS_ENDPOINT_URL_SSO={url}\n  control API: {url}/_emulator/ (approve, deny, scenario, log, advance)",
            url = emulator.base_url
        );
        shutdown_signal().await;
        Ok(())
    })
}

/// Completes on SIGINT or SIGTERM.
#[cfg(feature = "emulator")]
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut terminate) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
