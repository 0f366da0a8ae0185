//! `sso-agent-credential-process --profile P`: the `credential_process` helper on its own. Same
//! answer as `sso-agent credential-process`, from a binary that links only the client (no async
//! runtime, no AWS SDK), so it starts in a fraction of the time. It starts `sso-agent daemon`
//! from its own directory (else from PATH) when no agent answers, as the subcommand does.
//!
//! It has its own C `main` (`no_main`): std's start-up, which this one-request process does not
//! need, made a dozen system calls before it, among them reading and parsing /proc/self/maps
//! for the main thread's stack guard, and setting up an alternate signal stack. What of it
//! matters is kept: standard descriptors that are closed are opened on /dev/null, so the socket
//! can never be fd 1 and receive what is meant for stdout; and a panic still ends with the
//! message and status 101.

#![no_main]

use clap::Parser;

/// Prints AWS credential_process JSON (Version 1) for a profile, from the running sso-agent.
#[derive(Parser)]
#[command(name = "sso-agent-credential-process", version)]
struct Args {
    /// The [profile NAME] with the SSO keys (sso_session, sso_account_id, sso_role_name).
    #[arg(long)]
    profile: String,
}

#[no_mangle]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    open_closed_standard_descriptors();
    // std still reads the arguments (glibc and macOS hand them over outside `main`).
    // On a panic the hook has printed the message already.
    let code = std::panic::catch_unwind(helper).unwrap_or(101);
    // std's own start-up would flush stdout at exit; `--help` is printed there.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    libc::c_int::from(code)
}

/// As std's start-up does: a closed 0, 1 or 2 is opened on /dev/null, so no file or socket this
/// process opens is taken for a standard stream. One `poll` when all three are open.
fn open_closed_standard_descriptors() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is a valid array of three pollfd for the call's duration.
    if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } < 0 {
        return;
    }
    for pollfd in fds {
        if pollfd.revents & libc::POLLNVAL != 0 {
            let flags = if pollfd.fd == 0 {
                libc::O_RDONLY
            } else {
                libc::O_WRONLY
            };
            // SAFETY: a NUL-terminated path; the lowest free descriptor is the closed one.
            unsafe { libc::open(c"/dev/null".as_ptr(), flags) };
        }
    }
}

fn helper() -> u8 {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(err) if !err.use_stderr() => {
            // --help and --version: print and exit 0.
            let _ = err.print();
            return 0;
        }
        Err(err) => {
            // One line, as every other failure of the helper.
            let reason = err.kind();
            eprintln!(
                "sso-agent-credential-process: {reason}; usage: sso-agent-credential-process --profile PROFILE (see --help)"
            );
            return 2;
        }
    };
    match sso_agent::credential_process::run(&args.profile) {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("sso-agent: {err}");
            1
        }
    }
}
