//! `sso-agent completions SHELL` and `sso-agent man`: generated from the same clap definition
//! as the parser (clap_complete, clap_mangen), so they never disagree with it. Bash also
//! completes `--profile` with the config file's SSO profiles, through the hidden
//! `sso-agent profile-names`.

use anyhow::{Context, Result};
use clap::Command;
use clap_complete::Shell;
use std::io::Write;
use std::path::Path;

/// The hidden subcommand completion asks for profile names.
pub const PROFILE_NAMES: &str = "profile-names";

pub fn completions(shell: Shell, mut command: Command) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "sso-agent", &mut script);
    let mut script = String::from_utf8(script).context("the completion script is not UTF-8")?;
    if shell == Shell::Bash {
        // clap_complete 4.6 names a subcommand's case `sso__subcmd__agent__…` while its own
        // loop sets `sso__agent__…` for a binary name with a hyphen, so no subcommand's options
        // would ever complete; the loop's spelling is made the only one.
        script = script.replace("sso__subcmd__agent__", "sso__agent__");
        script = complete_profiles_in_bash(&script);
    }
    std::io::stdout().write_all(script.as_bytes())?;
    Ok(())
}

/// clap_complete's bash script completes every option's value as a file name; for `--profile`
/// it completes the profile names instead.
fn complete_profiles_in_bash(script: &str) -> String {
    let mut out = String::with_capacity(script.len());
    let mut in_profile_case = false;
    for line in script.lines() {
        let trimmed = line.trim_start();
        if trimmed == "--profile)" {
            in_profile_case = true;
        } else if in_profile_case && trimmed.starts_with("COMPREPLY=") {
            let indent = &line[..line.len() - trimmed.len()];
            out.push_str(indent);
            out.push_str(&format!(
                "COMPREPLY=($(compgen -W \"$(sso-agent {PROFILE_NAMES} 2>/dev/null)\" -- \"${{cur}}\"))\n"
            ));
            in_profile_case = false;
            continue;
        } else if trimmed == ";;" {
            in_profile_case = false;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// `sso-agent profile-names`: one served profile per line (nothing when the config is unreadable).
pub fn profile_names() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    if let Ok(config) = runtime.block_on(sso_agent::config::AwsConfig::load()) {
        let mut stdout = std::io::stdout().lock();
        for name in config.served_profiles() {
            writeln!(stdout, "{name}")?;
        }
    }
    Ok(())
}

/// `sso-agent man [--dir DIR]`: the roff page on stdout, or one page per subcommand in DIR.
pub fn man(command: Command, dir: Option<&Path>) -> Result<()> {
    match dir {
        None => {
            clap_mangen::Man::new(command).render(&mut std::io::stdout().lock())?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(command, dir)
                .with_context(|| format!("cannot write the pages to {}", dir.display()))?;
            println!("wrote the man pages to {}", dir.display());
        }
    }
    Ok(())
}
