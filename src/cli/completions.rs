//! `sso-agent completions SHELL` and `sso-agent man`: generated from the same clap definition
//! as the parser (clap_complete, clap_mangen), so they never disagree with it. Bash also
//! completes `--profile` with the config file's SSO profiles and `--sso-session` with its
//! sessions, through the hidden `sso-agent profile-names [--sessions]`.

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
        script = complete_names_in_bash(&script);
    }
    std::io::stdout().write_all(script.as_bytes())?;
    Ok(())
}

/// The bash that completes a name from `sso-agent profile-names ARGS`, one per line. Unquoted,
/// each name is offered quoted for the shell (`printf %q`: `my\ dev`) and compared with what
/// was typed in that form; after an opening quote, which bash keeps out of `cur` (bash 4 and
/// later) or leaves in it (3.2), as it is, and readline closes the quote. Not `compgen -W`: it
/// splits names at spaces and expands `$(…)` in them.
const COMPLETE_NAMES: &str = r#"local name quoted typed="${COMP_WORDS[COMP_CWORD]}"; COMPREPLY=(); while IFS= read -r name; do [[ -n "$name" ]] || continue; if [[ "$typed" == [\'\"]* ]]; then [[ "$name" == "${cur#[\'\"]}"* ]] && COMPREPLY+=("$name"); else printf -v quoted '%q' "$name"; [[ "$quoted" == "$cur"* ]] && COMPREPLY+=("$quoted"); fi; done < <(sso-agent ARGS 2>/dev/null)"#;

/// clap_complete's bash script completes every option's value as a file name; for `--profile`
/// it completes the profile names instead, and for `--sso-session` the session names.
fn complete_names_in_bash(script: &str) -> String {
    let mut out = String::with_capacity(script.len());
    let mut names_of: Option<&str> = None;
    for line in script.lines() {
        let trimmed = line.trim_start();
        if trimmed == "--profile)" {
            names_of = Some("");
        } else if trimmed == "--sso-session)" {
            names_of = Some(" --sessions");
        } else if let (Some(flag), true) = (names_of, trimmed.starts_with("COMPREPLY=")) {
            let indent = &line[..line.len() - trimmed.len()];
            out.push_str(indent);
            out.push_str(&COMPLETE_NAMES.replace("ARGS", &format!("{PROFILE_NAMES}{flag}")));
            out.push('\n');
            names_of = None;
            continue;
        } else if trimmed == ";;" {
            names_of = None;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// `sso-agent profile-names [--sessions]`: one served profile (or sso-session) per line, nothing
/// when the config is unreadable.
pub fn profile_names(sessions: bool) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    if let Ok(config) = runtime.block_on(sso_agent::config::AwsConfig::load()) {
        let names = if sessions {
            config
                .session_names()
                .into_iter()
                .map(str::to_string)
                .collect()
        } else {
            config.served_profiles()
        };
        let mut stdout = std::io::stdout().lock();
        for name in names {
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
