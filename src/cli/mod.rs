//! The subcommands, one file each. `anyhow` is used here, at the binary's edge, only.

pub mod console;
pub mod credential_process;
pub mod daemon;
#[cfg(feature = "emulator")]
pub mod demo;
#[cfg(feature = "emulator")]
pub mod emulator;
pub mod login;
pub mod logout;
pub mod service;
pub mod status;
pub mod stop;
