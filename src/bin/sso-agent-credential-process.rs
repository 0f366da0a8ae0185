//! `sso-agent-credential-process --profile P`: the `credential_process` helper on its own. Same
//! answer as `sso-agent credential-process`, from a binary that links only the client (no async
//! runtime, no AWS SDK), so it starts in a fraction of the time. It starts `sso-agent daemon`
//! from its own directory (else from PATH) when no agent answers, as the subcommand does.

use clap::Parser;
use std::process::ExitCode;

/// Prints AWS credential_process JSON (Version 1) for a profile, from the running sso-agent.
#[derive(Parser)]
#[command(name = "sso-agent-credential-process", version)]
struct Args {
    /// The [profile NAME] with the SSO keys (sso_session, sso_account_id, sso_role_name).
    #[arg(long)]
    profile: String,
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(err) if !err.use_stderr() => {
            // --help and --version: print and exit 0.
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            // One line, as every other failure of the helper.
            let reason = err.kind();
            eprintln!(
                "sso-agent-credential-process: {reason}; usage: sso-agent-credential-process --profile PROFILE (see --help)"
            );
            return ExitCode::from(2);
        }
    };
    match sso_agent::credential_process::run(&args.profile) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sso-agent: {err}");
            ExitCode::FAILURE
        }
    }
}
