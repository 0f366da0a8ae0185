//! `sso-agent export --profile P [--format …]`: a profile's credentials on stdout, for a shell
//! (`eval "$(sso-agent export --profile P)"`), a credentials file or a script. Secrets go to
//! stdout only; on a terminal a warning says they are on the screen.

use super::aws_env::{profile_region, AwsEnvironment};
use super::shell::Shell;
use anyhow::Result;
use clap::ValueEnum;
use std::io::{IsTerminal, Write};
use zeroize::Zeroizing;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// `export …` lines for bash, zsh and sh: `eval "$(sso-agent export --profile P)"`.
    Env,
    /// `set -gx …` lines: `sso-agent export --profile P --format fish | source`.
    Fish,
    /// `$Env:… = …` lines: `sso-agent export --profile P --format powershell | Invoke-Expression`.
    Powershell,
    /// The credential_process JSON (Version 1).
    Json,
    /// A `[P]` block for a credentials file.
    Ini,
}

pub fn run(profile: &str, format: Format) -> Result<()> {
    if format == Format::Ini {
        check_section_name(profile)?;
    }
    let region = profile_region(profile)?;
    let credentials = sso_agent::credential_process::fetch(profile)?;
    let text = match format {
        Format::Json => {
            let json = sso_agent::credential_process::process_json(&credentials)?;
            let mut text = Zeroizing::new(String::from_utf8_lossy(&json).into_owned());
            text.push('\n');
            text
        }
        Format::Ini => Zeroizing::new(format!(
            "[{profile}]\n# expires {}\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n",
            credentials.expiration,
            credentials.access_key_id,
            credentials.secret_access_key,
            credentials.session_token
        )),
        Format::Env => shell_lines(Shell::Env, &AwsEnvironment::keys(&credentials, region.as_deref())),
        Format::Fish => shell_lines(Shell::Fish, &AwsEnvironment::keys(&credentials, region.as_deref())),
        Format::Powershell => shell_lines(
            Shell::Powershell,
            &AwsEnvironment::keys(&credentials, region.as_deref()),
        ),
    };
    write_secret(&text)
}

/// A name that would end the `[P]` header early or start another line would make a credentials
/// file that means something else than it says.
fn check_section_name(profile: &str) -> Result<()> {
    if profile.contains(['[', ']', '\n', '\r']) || profile.trim() != profile {
        anyhow::bail!(
            "profile {profile:?} cannot be a [section] of a credentials file (it has brackets, a line break or spaces at an end); use --format json or env"
        );
    }
    Ok(())
}

/// The lines that make `environment` in `shell`.
pub fn shell_lines(shell: Shell, environment: &AwsEnvironment) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::new());
    for name in &environment.unset {
        text.push_str(&shell.unset(name));
        text.push('\n');
    }
    for (name, value) in &environment.set {
        text.push_str(&shell.set(name, value));
        text.push('\n');
    }
    text
}

/// Secrets to stdout, with a word on stderr when stdout is a screen rather than `eval` or a file.
pub fn write_secret(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    if stdout.is_terminal() {
        eprintln!("sso-agent: warning: these are live credentials, shown on your terminal; use eval \"$(sso-agent …)\" or redirect them to a file");
    }
    let written = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    match written {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => anyhow::bail!(
            "the output was closed before the credentials were written (the command reading them exited first)"
        ),
        other => Ok(other?),
    }
}
