//! `sso-agent-credential-process --profile P`: the `credential_process` helper on its own. Same
//! answer as `sso-agent credential-process`, from a binary that links only the client (no async
//! runtime, no AWS SDK), so it starts in a fraction of the time. It starts `sso-agent daemon`
//! from its own directory (else from PATH) when no agent answers, as the subcommand does.
//!
//! It has its own C `main` (`no_main`): std's start-up, which this one-request process does not
//! need, made a dozen system calls before it, among them reading and parsing /proc/self/maps
//! for the main thread's stack guard, and setting up an alternate signal stack. What of it
//! matters is kept: standard descriptors that are closed are opened on /dev/null, so the socket
//! can never be fd 1 and receive what is meant for stdout; SIGPIPE is ignored, so a closed
//! stdout is a one-line error and status 1, not a silent death; and a panic still ends with the
//! message and status 101. The arguments are read from `argv`: only glibc and macOS hand them to
//! std outside `main`.

#![no_main]

use std::ffi::OsString;

const USAGE: &str = "usage: sso-agent-credential-process --profile PROFILE (see --help)";

const HELP: &str = "\
Prints AWS credential_process JSON (Version 1) for a profile, from the running sso-agent.

Usage: sso-agent-credential-process --profile <PROFILE>

Options:
      --profile <PROFILE>  The [profile NAME] to serve: the one with the SSO keys (sso_session,
                           sso_account_id, sso_role_name), the one whose credential_process runs
                           this helper, or a License Manager one
  -h, --help               Print help
  -V, --version            Print version
";

/// What the command line asks for.
enum Args {
    Credentials { profile: String },
    Help,
    Version,
}

/// The three options, by lexopt rather than clap: clap builds its whole command description at
/// start-up, and its code and allocations were a measurable part of this process's run.
fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Args, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_iter(args);
    let mut profile = None;
    while let Some(arg) = parser.next().map_err(|err| err.to_string())? {
        match arg {
            Long("profile") => {
                let value = parser.value().map_err(|err| err.to_string())?;
                let value = value
                    .into_string()
                    .map_err(|_| "the profile name is not valid UTF-8".to_string())?;
                if profile.replace(value).is_some() {
                    return Err("--profile is given more than once".to_string());
                }
            }
            Short('h') | Long("help") => return Ok(Args::Help),
            Short('V') | Long("version") => return Ok(Args::Version),
            Long(typo) if strsim::jaro_winkler(typo, "profile") > 0.8 => {
                return Err(format!(
                    "invalid option '--{typo}' (did you mean --profile?)"
                ))
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    match profile {
        Some(profile) => Ok(Args::Credentials { profile }),
        None => Err("--profile PROFILE is required".to_string()),
    }
}

/// # Safety
/// Called by the C runtime only, with `argc` NUL-terminated strings in `argv`.
#[no_mangle]
pub unsafe extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    open_closed_standard_descriptors();
    // SAFETY: setting a signal's disposition to "ignore" has no handler to be unsafe in.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // SAFETY: the C runtime hands `main` `argc` NUL-terminated strings in `argv`.
    let args = unsafe { arguments(argc, argv) };
    // On a panic the hook has printed the message already.
    let code = std::panic::catch_unwind(|| helper(args)).unwrap_or(101);
    // std's own start-up would flush stdout at exit; `--help` is printed there.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    libc::c_int::from(code)
}

/// # Safety
/// `argv` must hold `argc` pointers to NUL-terminated strings.
unsafe fn arguments(argc: libc::c_int, argv: *const *const libc::c_char) -> Vec<OsString> {
    use std::os::unix::ffi::OsStringExt;
    (0..usize::try_from(argc).unwrap_or(0))
        .map(|n| {
            // SAFETY: n < argc, so `argv.add(n)` is one of the strings (the caller's promise).
            let arg = unsafe { std::ffi::CStr::from_ptr(*argv.add(n)) };
            OsString::from_vec(arg.to_bytes().to_vec())
        })
        .collect()
}

/// As std's start-up does: a closed 0, 1 or 2 is opened on /dev/null, so no file or socket this
/// process opens is taken for a standard stream. One `poll` when all three are open; where it
/// fails (and on macOS), one `fcntl` each. If /dev/null cannot be opened there, the process aborts, as std's
/// does: a socket could otherwise become stdout.
fn open_closed_standard_descriptors() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // Darwin's poll does not report a closed descriptor (std skips it there too): fcntl each.
    // SAFETY: `fds` is a valid array of three pollfd for the call's duration.
    let polled =
        cfg!(not(target_vendor = "apple")) && unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } >= 0;
    for pollfd in fds {
        let closed = if polled {
            pollfd.revents & libc::POLLNVAL != 0
        } else {
            // SAFETY: F_GETFD reads a descriptor's flags and changes nothing.
            let flags = unsafe { libc::fcntl(pollfd.fd, libc::F_GETFD) };
            flags == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EBADF)
        };
        if closed {
            let flags = if pollfd.fd == 0 {
                libc::O_RDONLY
            } else {
                libc::O_WRONLY
            };
            // SAFETY: a NUL-terminated path; the lowest free descriptor is the closed one.
            if unsafe { libc::open(c"/dev/null".as_ptr(), flags) } != pollfd.fd {
                std::process::abort();
            }
        }
    }
}

fn helper(args: Vec<OsString>) -> u8 {
    match parse_args(args) {
        Ok(Args::Credentials { profile }) => match sso_agent::credential_process::run(&profile) {
            Ok(()) => 0,
            Err(err) => {
                eprintln!("sso-agent: {err}");
                1
            }
        },
        Ok(Args::Help) => {
            print!("{HELP}");
            0
        }
        Ok(Args::Version) => {
            println!("sso-agent-credential-process {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Err(reason) => {
            // One line, as every other failure of the helper.
            eprintln!("sso-agent-credential-process: {reason}; {USAGE}");
            2
        }
    }
}
