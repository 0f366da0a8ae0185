//! `sso-agent-credential-process --profile P`: the `credential_process` helper on its own. Same
//! answer as `sso-agent credential-process`, from a binary that links only the client (no async
//! runtime, no AWS SDK), so it starts in a fraction of the time. It starts `sso-agent daemon`
//! from its own directory when no agent answers, as the subcommand does.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let profile = match args.as_slice() {
        [flag, profile] if flag == "--profile" => profile,
        _ => {
            eprintln!("usage: sso-agent-credential-process --profile PROFILE");
            return ExitCode::from(2);
        }
    };
    match sso_agent::credential_process::run(profile) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sso-agent: {err}");
            ExitCode::FAILURE
        }
    }
}
