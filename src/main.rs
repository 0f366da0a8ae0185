//! The `sso-agent` command line. `anyhow` lives here (and in `cli/`) only; the library has typed
//! errors.

mod cli;

use clap::{ArgGroup, CommandFactory, Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sso-agent",
    version,
    about = "Keeps you logged in to AWS IAM Identity Center and serves AWS credentials fast"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent in the foreground (service units and autostart run this).
    #[command(
        after_help = "Example:\n  sso-agent daemon        # what `install-service` and the first request start for you"
    )]
    Daemon,
    /// Log in to an sso-session (opens the browser; waits until the session is live).
    #[command(
        after_help = "The agent chooses the login: in a browser where it can show one (DISPLAY or WAYLAND_DISPLAY; on macOS a GUI session), else the device code. `sso_agent_login_flow = auto | browser | device-code` in the [sso-session] sets it.\n\nExamples:\n  sso-agent login --sso-session corp\n  sso-agent login --profile dev --no-browser\n  sso-agent login --use-device-code"
    )]
    #[command(group(ArgGroup::new("target").args(["sso_session", "profile"])))]
    Login {
        /// The [sso-session NAME] to log in to (default: the only one configured; a legacy
        /// profile's session: its start URL, or use --profile).
        #[arg(long)]
        sso_session: Option<String>,
        /// Log in to the session this [profile NAME] uses.
        #[arg(long)]
        profile: Option<String>,
        /// Print the link (and code) only; do not open a browser.
        #[arg(long)]
        no_browser: bool,
        /// Log in again even while the session's token is valid.
        #[arg(long)]
        force: bool,
        /// Use the device code (a link and a code for any device) instead of the browser
        /// login; a browser login already waiting gives way to it.
        #[arg(long)]
        use_device_code: bool,
        /// The port of the browser login's callback on 127.0.0.1 (default: any free one),
        /// e.g. to forward it over SSH; a browser login already waiting moves to it.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..), conflicts_with = "use_device_code")]
        redirect_port: Option<u16>,
    },
    /// Print credential_process JSON (Version 1) for a profile.
    #[command(
        after_help = "Example, in ~/.aws/config:\n  [profile dev-cli]\n  credential_process = sso-agent-credential-process --profile dev"
    )]
    CredentialProcess {
        /// The [profile NAME] with the SSO keys (sso_session, sso_account_id, sso_role_name).
        #[arg(long)]
        profile: String,
    },
    /// Open the AWS console signed in as a profile's role (or print the sign-in link).
    #[command(
        // In after_help, not long_about: `help console` then keeps one line per flag.
        after_help = "The role credentials come from the agent, as for credential-process (it \
            logs in first if the session needs it). The AWS federation endpoint trades them for a \
            sign-in token, valid for 15 minutes, and the sign-in link opens in your browser. The \
            endpoint is chosen by the profile's region (signin.aws.amazon.com, \
            signin.amazonaws-us-gov.com, signin.amazonaws.cn); SSO_AGENT_FEDERATION_URL overrides \
            it.\n\n\
            Examples:\n  \
            sso-agent console --profile dev\n  \
            sso-agent console --profile dev --duration 43200 --destination https://us-east-1.console.aws.amazon.com/s3/home\n  \
            sso-agent console --profile dev --print   # only print the link (a secret for 15 minutes)"
    )]
    Console {
        /// The [profile NAME] whose role to sign in as (the one credential-process takes).
        #[arg(long, env = "AWS_PROFILE")]
        profile: String,
        /// Print the sign-in link on stdout instead of opening a browser (anyone with it can
        /// sign in for 15 minutes).
        #[arg(long)]
        print: bool,
        /// The console page to land on (default: the console home of the profile's region).
        #[arg(long, value_name = "URL")]
        destination: Option<String>,
        /// How long the console session lasts: seconds (900 to 43200) or a number and its unit
        /// (15m to 12h).
        #[arg(long, value_name = "SECONDS", default_value = "3600", value_parser = cli::duration::seconds_or_with_unit)]
        duration: std::time::Duration,
    },
    /// Show sessions, token expiry and cached roles (no secrets).
    #[command(
        after_help = "Examples:\n  sso-agent status\n  sso-agent status --json | jq '.sessions[].expires_at'"
    )]
    Status {
        /// Print the status as JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Log out of a session (upstream too) and forget its tokens.
    #[command(
        after_help = "Examples:\n  sso-agent logout --sso-session corp\n  sso-agent logout --all"
    )]
    #[command(group(ArgGroup::new("which").args(["sso_session", "profile", "all"]).required(true)))]
    Logout {
        /// The [sso-session NAME] to log out of (a legacy profile's session: its start URL).
        #[arg(long)]
        sso_session: Option<String>,
        /// Log out of the session this [profile NAME] uses (as `login --profile`).
        #[arg(long)]
        profile: Option<String>,
        /// Log out of every session.
        #[arg(long)]
        all: bool,
    },
    /// Stop the running agent (it finishes requests in flight and removes its socket).
    #[command(
        after_help = "Example:\n  sso-agent stop          # the next request starts a fresh agent"
    )]
    Stop,
    /// Run a command with a profile's credentials in its environment (no shell; its exit status).
    #[command(
        after_help = "Examples:\n  sso-agent exec --profile dev -- aws s3 ls\n  sso-agent exec --profile dev --ecs -- terraform apply   # never sees credentials expire"
    )]
    Exec {
        /// The [profile NAME] whose role credentials the command gets.
        #[arg(long, env = "AWS_PROFILE")]
        profile: String,
        /// Give the command a container-credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI
        /// and a token valid while it runs) instead of keys, so it always gets fresh ones.
        #[arg(long)]
        ecs: bool,
        /// The command and its arguments (after `--`).
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "COMMAND"
        )]
        command: Vec<std::ffi::OsString>,
    },
    /// Run ssh with the agent's socket forwarded: the remote host's credential_process helper
    /// asks this agent, and logins run here.
    #[command(
        after_help = "Runs the real `ssh` with `-o 'RemoteForward /tmp/sso-agent-forward-<random>.sock <a socket the agent opens for this ssh>'` before your arguments: a fresh remote path per connection, so a socket a stock sshd left behind (StreamLocalBindUnlink no) never blocks the next one. On the remote host, `credential_process = sso-agent-credential-process --profile P` finds the forward by itself when no agent of its own runs there; P is resolved in this host's config. Whoever is root on the remote host can use the forward while the connection lasts, as with ssh -A; --confirm asks you first. The agent closes the socket when ssh exits. SSO_AGENT_SSH names another ssh program.\n\nExamples:\n  sso-agent ssh devbox\n  sso-agent ssh --confirm devbox\n  sso-agent ssh -p 2222 me@devbox aws s3 ls --profile dev"
    )]
    Ssh {
        /// Ask before the remote host gets anything: its first request shows a desktop
        /// notification here, with Allow / Deny (Deny: nothing for this connection).
        #[arg(long)]
        confirm: bool,
        /// ssh's own arguments, the host and the remote command, as for ssh.
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "SSH ARGS"
        )]
        args: Vec<std::ffi::OsString>,
    },
    /// Print ~/.ssh/config lines that forward the agent's socket to a host (instead of `sso-agent ssh`).
    #[command(
        after_help = "ssh_config has no token that changes per connection, so the remote path is the same for every connection from here to HOST (ssh's %C): a reconnection needs `StreamLocalBindUnlink yes` in the remote sshd_config, since sshd leaves the socket behind otherwise. `sso-agent ssh` needs no such setting.\n\nExample:\n  sso-agent ssh-config devbox >> ~/.ssh/config"
    )]
    SshConfig {
        /// The Host pattern the lines are for.
        host: String,
    },
    /// Print a profile's credentials for a shell, a credentials file or a script.
    #[command(
        after_help = "Examples:\n  eval \"$(sso-agent export --profile dev)\"\n  sso-agent export --profile dev --format fish | source\n  sso-agent export --profile dev --format ini >> creds.ini"
    )]
    Export {
        /// The [profile NAME] whose role credentials are printed.
        #[arg(long, env = "AWS_PROFILE")]
        profile: String,
        /// What to print: shell lines, the credential_process JSON, or a credentials-file block.
        #[arg(long, value_enum, default_value = "env")]
        format: cli::export::Format,
    },
    /// Print the variables that point a tool at the agent's container-credentials endpoint.
    #[command(
        after_help = "Examples:\n  eval \"$(sso-agent ecs-env --profile dev --ttl 8h)\"\n  docker run --network host -e AWS_CONTAINER_CREDENTIALS_FULL_URI -e AWS_CONTAINER_AUTHORIZATION_TOKEN amazon/aws-cli s3 ls\n  sso-agent ecs-env --profile dev --revoke"
    )]
    EcsEnv {
        /// The [profile NAME] the grant serves.
        #[arg(long, env = "AWS_PROFILE")]
        profile: String,
        /// How long the grant lasts: a number and its unit, s, m, h or d (at most 7d; the grant
        /// also ends when the agent stops).
        #[arg(long, default_value = "12h", value_parser = cli::ecs_env::parse_ttl)]
        ttl: std::time::Duration,
        /// The shell to print for.
        #[arg(long, value_enum, default_value = "env")]
        format: cli::shell::Shell,
        /// End the profile's ecs-env grants now instead (an `exec --ecs` grant ends with its
        /// command).
        #[arg(long, conflicts_with_all = ["ttl", "format"])]
        revoke: bool,
    },
    /// Take the AWS CLI's login (`aws sso login`) into the agent instead of logging in again.
    #[command(
        after_help = "The agent reads ~/.aws/sso/cache/<sha1 of the session name>.json (the file \
            `aws sso login` writes) and keeps its token and client registration in the keyring, \
            as after its own login; no secret crosses the socket. The file must be yours, not a \
            link, and for the session's sso_start_url and sso_region. An expired token is taken \
            when a refresh token and an unexpired registration come with it (the agent refreshes \
            it); without them only an unexpired token is taken, and it cannot be renewed.\n\n\
            Examples:\n  aws sso login --sso-session corp && sso-agent import-cli-cache --sso-session corp"
    )]
    ImportCliCache {
        /// The [sso-session NAME] whose AWS CLI login to take (default: the only one configured).
        #[arg(long)]
        sso_session: Option<String>,
    },
    /// List every account and role an sso-session may use, and the profile configure names it.
    #[command(
        after_help = "Examples:\n  sso-agent profiles\n  sso-agent profiles --sso-session corp --json | jq -r '.roles[].profile'"
    )]
    Profiles {
        /// The [sso-session NAME] to list (default: the only one configured).
        #[arg(long)]
        sso_session: Option<String>,
        /// The profile names shown, as for configure.
        #[arg(long, default_value = cli::configure::template::DEFAULT_TEMPLATE)]
        template: String,
        /// Print the list as JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Add a [profile …] per account and role to the config file (a diff; --write applies it).
    #[command(
        after_help = "Each generated profile reaches its role through sso-agent-credential-process, \
            with region = the session's sso_region. Placeholders of --template: <account-name>, \
            <account-id>, <role-name>, <session>; a name keeps ASCII letters, digits and _-/.%@:+ \
            (any other run of characters becomes one -). Generated sections carry \
            `sso_agent_generated = true`; a profile without it is never changed. --write keeps \
            the previous file as <config>.bak.\n\n\
            Examples:\n  \
            sso-agent configure                      # show the diff\n  \
            sso-agent configure --write\n  \
            sso-agent configure --template '<account-id>-<role-name>' --write --prune"
    )]
    Configure {
        /// The [sso-session NAME] whose roles to configure (default: the only one configured).
        #[arg(long)]
        sso_session: Option<String>,
        /// How profiles are named.
        #[arg(long, default_value = cli::configure::template::DEFAULT_TEMPLATE)]
        template: String,
        /// Write the file (atomically, the previous one kept as <config>.bak) instead of
        /// printing the diff.
        #[arg(long)]
        write: bool,
        /// Also remove the generated profiles of roles the session no longer has.
        #[arg(long)]
        prune: bool,
    },
    /// Keep a License Manager refresh token for a profile: import one, create one, delete it.
    #[command(
        subcommand,
        after_help = "Examples:\n  sso-agent license import --profile licensed < token.txt\n  sso-agent license create-token --profile licensed --source-profile dev --license-arn ARN --role-arn ARN\n  sso-agent license delete --profile licensed --upstream"
    )]
    License(cli::license::LicenseCommand),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  sso-agent completions bash > ~/.local/share/bash-completion/completions/sso-agent\n  sso-agent completions zsh > ~/.zfunc/_sso-agent\n  sso-agent completions fish > ~/.config/fish/completions/sso-agent.fish"
    )]
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one per subcommand into a directory.
    #[command(
        after_help = "Examples:\n  sso-agent man | man -l -\n  sso-agent man --dir ~/.local/share/man/man1"
    )]
    Man {
        /// Write sso-agent.1 and a page per subcommand here instead of printing one page.
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// The served profile names, one per line (for shell completion).
    #[command(name = "profile-names", hide = true)]
    ProfileNames {
        /// The sso-session names instead.
        #[arg(long)]
        sessions: bool,
    },
    /// Install the systemd user units (Linux) or LaunchAgent (macOS) and enable them.
    #[command(
        after_help = "Examples:\n  sso-agent install-service --print\n  sso-agent install-service"
    )]
    InstallService {
        /// Show the files and commands; change nothing.
        #[arg(long)]
        print: bool,
    },
    /// Disable and remove what install-service installed.
    #[command(after_help = "Example:\n  sso-agent uninstall-service")]
    UninstallService {
        /// Show the files and commands; change nothing.
        #[arg(long)]
        print: bool,
    },
    /// Show the whole product against the embedded emulator, in a temporary home.
    #[cfg(feature = "emulator")]
    #[command(after_help = "Example:\n  sso-agent demo          # touches nothing of yours")]
    Demo,
    /// Run the emulator (sso-oidc, sso portal, License Manager, STS) on a loopback port.
    #[cfg(feature = "emulator")]
    #[command(
        after_help = "Example:\n  sso-agent emulator --listen 127.0.0.1:8123 --fixture accounts.json"
    )]
    Emulator {
        /// Address to listen on; port 0 picks a free port. Loopback only.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        /// Accounts, roles and users as JSON (default: a small built-in set).
        #[arg(long)]
        fixture: Option<std::path::PathBuf>,
    },
}

/// A missing `--profile` of a subcommand that also reads `AWS_PROFILE` says so (clap's message
/// names the option only).
fn with_profile_tip(mut err: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let profile_missing = err.kind() == ErrorKind::MissingRequiredArgument
        && matches!(
            err.get(ContextKind::InvalidArg),
            Some(ContextValue::Strings(missing)) if missing.iter().any(|arg| arg.starts_with("--profile"))
        );
    let subcommand = std::env::args_os().nth(1).unwrap_or_default();
    let reads_aws_profile = || {
        Cli::command()
            .find_subcommand(subcommand.to_str().unwrap_or_default())
            .and_then(|command| {
                command
                    .get_arguments()
                    .find(|arg| arg.get_id() == "profile")
            })
            .is_some_and(|profile| profile.get_env() == Some(std::ffi::OsStr::new("AWS_PROFILE")))
    };
    if profile_missing && reads_aws_profile() {
        err.insert(
            ContextKind::Suggested,
            ContextValue::StyledStrs(vec!["or set AWS_PROFILE to the profile's name".into()]),
        );
    }
    err
}

fn main() -> ExitCode {
    // `sso-agent daemon` takes no arguments, and is what units and autostart run: it skips clap,
    // whose whole command description (every subcommand and help text) would otherwise be built
    // and stay in the agent's resident memory for as long as it runs.
    let mut args = std::env::args_os().skip(1);
    if let (Some(command), None) = (args.next(), args.next()) {
        if command == "daemon" {
            sso_agent::logging::init();
            return exit_code(cli::daemon::run());
        }
    }
    let cli = Cli::try_parse().unwrap_or_else(|err| with_profile_tip(err).exit());
    // credential-process stays lean: no log subscriber on the hot path (nor exec's). console has
    // none either: its request URL carries role credentials, and no library may log it.
    if !matches!(
        cli.command,
        Command::CredentialProcess { .. }
            | Command::Exec { .. }
            | Command::Ssh { .. }
            | Command::SshConfig { .. }
            | Command::ProfileNames { .. }
            | Command::Console { .. }
            | Command::Export { .. }
            | Command::EcsEnv { .. }
    ) {
        sso_agent::logging::init();
    }
    let result = match cli.command {
        Command::Daemon => cli::daemon::run(),
        Command::Login {
            sso_session,
            profile,
            no_browser,
            force,
            use_device_code,
            redirect_port,
        } => cli::login::run(cli::login::LoginArgs {
            session: sso_session,
            profile,
            no_browser,
            force,
            use_device_code,
            redirect_port,
        }),
        Command::CredentialProcess { profile } => cli::credential_process::run(&profile),
        Command::Console {
            profile,
            print,
            destination,
            duration,
        } => cli::console::run(&profile, print, destination, duration.as_secs()),
        Command::Status { json } => cli::status::run(json),
        Command::Logout {
            sso_session,
            profile,
            all,
        } => cli::logout::run(sso_session, profile, all),
        Command::Stop => cli::stop::run(),
        Command::Exec {
            profile,
            ecs,
            command,
        } => cli::exec::run(&profile, ecs, &command),
        Command::Export { profile, format } => cli::export::run(&profile, format),
        Command::Ssh { confirm, args } => cli::ssh::run(confirm, &args),
        Command::SshConfig { host } => cli::ssh::config(&host),
        Command::EcsEnv {
            profile,
            revoke: true,
            ..
        } => cli::ecs_env::revoke(&profile),
        Command::EcsEnv {
            profile,
            ttl,
            format,
            revoke: false,
        } => cli::ecs_env::run(&profile, ttl, format),
        Command::ImportCliCache { sso_session } => cli::import_cli_cache::run(sso_session),
        Command::Profiles {
            sso_session,
            template,
            json,
        } => cli::profiles::run(sso_session, &template, json),
        Command::Configure {
            sso_session,
            template,
            write,
            prune,
        } => cli::configure::run(sso_session, &template, write, prune),
        Command::License(command) => cli::license::run(command),
        Command::Completions { shell } => cli::completions::completions(shell, Cli::command()),
        Command::Man { dir } => cli::completions::man(Cli::command(), dir.as_deref()),
        Command::ProfileNames { sessions } => cli::completions::profile_names(sessions),
        Command::InstallService { print } => cli::service::install(print),
        Command::UninstallService { print } => cli::service::uninstall(print),
        #[cfg(feature = "emulator")]
        Command::Demo => cli::demo::run(),
        #[cfg(feature = "emulator")]
        Command::Emulator { listen, fixture } => cli::emulator::run(listen, fixture),
    };
    exit_code(result)
}

fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sso-agent: {err:#}");
            ExitCode::FAILURE
        }
    }
}
