//! `sso-agent exec --profile P [--ecs] -- COMMAND [ARGS…]`: run COMMAND with the profile's
//! credentials in its environment, or with `--ecs` with a container-credentials grant that the
//! agent keeps serving fresh credentials on for as long as COMMAND runs.
//!
//! The command replaces this process (execvp, no shell, no wrapper left behind): signals and the
//! exit status are COMMAND's own, and with `--ecs` the grant, tied to this pid, ends exactly when
//! COMMAND exits.

use super::aws_env::{served_profile_for, AwsEnvironment, PROFILE_VAR};
use anyhow::{bail, Result};
use sso_agent::client::{AgentClient, REQUEST_TIMEOUT};
use sso_agent::protocol::{Request, Response};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::Command;

pub fn run(profile: &str, ecs: bool, command: &[OsString]) -> Result<()> {
    if let Some(outer) = std::env::var_os(PROFILE_VAR).filter(|outer| !outer.is_empty()) {
        bail!(
            "already inside `sso-agent exec` for profile {} ({PROFILE_VAR} is set): run the command directly, or start it from a shell outside that exec",
            outer.to_string_lossy()
        );
    }
    let Some((program, args)) = command.split_first() else {
        bail!("name the command to run: sso-agent exec --profile {profile} -- COMMAND [ARGS…]");
    };
    let (region, shadowed) = served_profile_for(profile, ecs, true)?;
    if let Some(warning) = shadowed {
        eprintln!("{warning}");
    }
    // A login the session needs happens now, before COMMAND starts, with the prompt visible.
    let credentials = sso_agent::credential_process::fetch(profile)?;
    let environment = if ecs {
        let mut client = AgentClient::connect()?;
        let request = Request::ContainerGrant {
            profile: profile.to_string(),
            ttl_seconds: None,
            for_caller: true,
        };
        match client.request(request, REQUEST_TIMEOUT)? {
            Response::ContainerGrant(grant) => AwsEnvironment::container(&grant, region.as_deref()),
            other => bail!("unexpected answer from the agent: {}", other.kind()),
        }
    } else {
        AwsEnvironment::keys(&credentials, region.as_deref())
    };
    drop(credentials);

    let mut child = Command::new(program);
    child.args(args);
    for name in &environment.unset {
        child.env_remove(name);
    }
    for (name, value) in &environment.set {
        child.env(name, value.as_str());
    }
    child.env(PROFILE_VAR, profile);
    exec_or_exit(&mut child, program)
}

/// Replaces this process with `command`; if it cannot start, says so and exits with the
/// shell's codes for that (127 not found, 126 otherwise).
pub(crate) fn exec_or_exit(command: &mut Command, program: &std::ffi::OsStr) -> ! {
    let err = command.exec();
    let code = if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    eprintln!("sso-agent: cannot run {}: {err}", program.to_string_lossy());
    std::process::exit(code);
}
