//! The subcommands, one file each. `anyhow` is used here, at the binary's edge, only.

pub mod aws_env;
pub mod completions;
pub mod configure;
pub mod console;
pub mod credential_process;
pub mod daemon;
#[cfg(feature = "emulator")]
pub mod demo;
pub mod duration;
pub mod ecs_env;
#[cfg(feature = "emulator")]
pub mod emulator;
pub mod exec;
pub mod export;
pub mod import_cli_cache;
pub mod license;
pub mod login;
pub mod logout;
pub mod profiles;
pub mod service;
pub mod shell;
pub mod ssh;
pub mod status;
pub mod stop;
