//! An IAM Identity Center emulator that speaks the AWS wire format (sso-oidc and the sso portal,
//! 2019-06-10; License Manager's token operations, 2018-08-01; STS AssumeRoleWithWebIdentity,
//! 2011-06-15), so the real AWS SDK clients talk to it unmodified. Tests, benchmarks and the demo
//! run against it. Nothing outside this module imports it.

mod caller;
mod control;
mod federation;
pub mod fixture;
mod jwt;
mod license_manager;
mod oidc;
mod pages;
mod portal;
pub mod scenario;
mod server;
mod state;
mod sts;
mod wire;

pub use fixture::Fixture;
pub use scenario::{Fault, Scenario};
pub use state::Emulator;

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// An emulator serving on a loopback port; it stops when dropped.
pub struct RunningEmulator {
    pub base_url: String,
    pub state: Arc<Emulator>,
    stop: Option<oneshot::Sender<()>>,
}

impl RunningEmulator {
    /// Binds `listen` (loopback only: the control API must not be reachable from elsewhere) and
    /// serves on the current tokio runtime.
    pub async fn start(listen: SocketAddr, fixture: Fixture) -> std::io::Result<Self> {
        if !listen.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("the emulator listens on loopback only; {listen} is not a loopback address (use 127.0.0.1)"),
            ));
        }
        let listener = TcpListener::bind(listen).await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(Emulator::new(base_url.clone(), fixture));
        let (stop, stopped) = oneshot::channel();
        let router = server::router(state.clone());
        tokio::spawn(server::serve(listener, router, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            base_url,
            state,
            stop: Some(stop),
        })
    }

    /// Replaces the scenario, as `PUT /_emulator/scenario` does.
    pub fn set_scenario(&self, scenario: Scenario) -> Result<(), String> {
        scenario.validate()?;
        self.state.lock().scenario = scenario;
        Ok(())
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
