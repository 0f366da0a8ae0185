//! sso-agent: keeps a developer workstation logged in to AWS IAM Identity Center and serves AWS
//! credentials fast.

pub mod agent;
pub mod aws_sdk;
pub mod cli_cache;
pub mod client;
pub mod config;
pub mod credential_process;
#[cfg(feature = "emulator")]
pub mod emulator;
pub mod failpoint;
pub mod forward;
pub mod hardening;
pub mod license;
pub mod logging;
pub mod login_flow;
pub mod loopback_peer;
pub mod notify;
pub mod oidc;
pub mod paths;
pub mod peer;
pub mod portal;
pub mod protocol;
pub mod secret;
pub mod service;
pub mod session;
pub mod store;
