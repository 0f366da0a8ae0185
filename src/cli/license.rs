//! `sso-agent license import|create-token|delete --profile P`: put a License Manager refresh
//! token in the profile's keyring item (through the agent, which owns the store), or take it out.
//! The token is never printed: only its id, license and expiry.

use anyhow::{bail, Context, Result};
use aws_sdk_licensemanager::config::Credentials as SigningCredentials;
use aws_sdk_licensemanager::error::ProvideErrorMetadata;
use sso_agent::client::{AgentClient, REQUEST_TIMEOUT};
use sso_agent::config::{AwsConfig, LicenseProfileConfig};
use sso_agent::license::TokenClaims;
use sso_agent::protocol::{LicenseToken, Request, Response};
use sso_agent::secret::Secret;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// A refresh token is at most 4096 characters (the model's TokenString); more is not one.
const MAX_TOKEN_INPUT: u64 = 16 * 1024;
/// CreateToken retried on RateLimitExceeded (not a throttling code to the SDK), same ClientToken.
const RATE_LIMIT_RETRIES: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

#[derive(clap::Subcommand)]
pub enum LicenseCommand {
    /// Store a refresh token (a JWT) for a License Manager profile; from stdin unless --file.
    #[command(
        after_help = "Examples:\n  sso-agent license import --profile licensed < token.txt\n  sso-agent license import --profile licensed --file token.csv-value.txt"
    )]
    Import {
        /// The [profile NAME] with `sso_agent_license_role_arn`.
        #[arg(long)]
        profile: String,
        /// Read the token from this file instead of stdin.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
    /// Call License Manager's CreateToken and store the token it returns.
    #[command(
        after_help = "Example:\n  sso-agent license create-token --profile licensed --source-profile dev \\\n    --license-arn arn:aws:license-manager::111122223333:license:l-… \\\n    --role-arn arn:aws:iam::111122223333:role/AWSLicenseManagerConsumptionRole"
    )]
    CreateToken {
        /// The License Manager [profile NAME] to store the token in (its `region` is the
        /// license's home Region, where CreateToken is called).
        #[arg(long)]
        profile: String,
        /// The license the token is for (its `aud` claim).
        #[arg(long, value_name = "ARN")]
        license_arn: String,
        /// A role the token may be exchanged for (repeat for more).
        #[arg(long = "role-arn", value_name = "ARN", required = true)]
        role_arns: Vec<String>,
        /// Days until the token expires (License Manager's default: 365).
        #[arg(long, value_name = "N")]
        expiration_days: Option<i32>,
        /// A property to put in the token's `amr` claim (repeat, at most 3).
        #[arg(long = "token-property", value_name = "X")]
        token_properties: Vec<String>,
        /// The profile whose credentials sign CreateToken (an sso-agent profile works);
        /// default: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
        #[arg(long, value_name = "S")]
        source_profile: Option<String>,
        /// The idempotency token of an earlier create-token whose token was not stored: within
        /// ten minutes License Manager answers the same token again instead of a new one.
        #[arg(long, value_name = "ID")]
        client_token: Option<String>,
    },
    /// Forget a License Manager profile's token; with --upstream, DeleteToken it first.
    #[command(
        after_help = "Examples:\n  sso-agent license delete --profile licensed\n  sso-agent license delete --profile licensed --upstream"
    )]
    Delete {
        /// The License Manager [profile NAME] whose token to forget.
        #[arg(long)]
        profile: String,
        /// Also delete the token at License Manager (signed by --source-profile, else the
        /// profile create-token used).
        #[arg(long)]
        upstream: bool,
        /// The profile whose credentials sign DeleteToken (with --upstream).
        #[arg(long, value_name = "S")]
        source_profile: Option<String>,
    },
}

pub fn run(command: LicenseCommand) -> Result<()> {
    match command {
        LicenseCommand::Import { profile, file } => import(&profile, file.as_deref()),
        LicenseCommand::CreateToken {
            profile,
            license_arn,
            role_arns,
            expiration_days,
            token_properties,
            source_profile,
            client_token,
        } => create_token(CreateToken {
            profile,
            license_arn,
            role_arns,
            expiration_days,
            token_properties,
            source_profile,
            client_token,
        }),
        LicenseCommand::Delete {
            profile,
            upstream,
            source_profile,
        } => delete(&profile, upstream, source_profile),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The License Manager profile `name`, or an error that says how to make it one.
fn license_profile(runtime: &tokio::runtime::Runtime, name: &str) -> Result<LicenseProfileConfig> {
    let config = runtime.block_on(AwsConfig::load())?;
    match config.license_profile(name)? {
        Some(profile) => Ok(profile),
        None => bail!(
            "[profile {name}] in {} is not a License Manager profile; add `sso_agent_license_role_arn = <role ARN>` and `region = <the license's home Region>` to it",
            config.file()
        ),
    }
}

fn import(profile: &str, file: Option<&Path>) -> Result<()> {
    let runtime = runtime()?;
    license_profile(&runtime, profile)?;
    let mut text = zeroize::Zeroizing::new(String::new());
    let read = match file {
        Some(path) => std::fs::File::open(path)
            .with_context(|| format!("cannot open {}", path.display()))?
            .take(MAX_TOKEN_INPUT)
            .read_to_string(&mut text),
        None => std::io::stdin()
            .take(MAX_TOKEN_INPUT)
            .read_to_string(&mut text),
    };
    read.context("cannot read the token (it must be UTF-8 text)")?;
    let token = text.trim();
    if token.is_empty() {
        bail!("no token given: pipe it in (`sso-agent license import --profile {profile} < token.txt`) or pass --file");
    }
    // Checked here too, so a wrong paste is refused before it reaches the agent.
    TokenClaims::read(token)?;
    let stored = store(
        &mut AgentClient::connect()?,
        profile,
        Secret::new(token),
        None,
    )?;
    print_stored(&stored);
    Ok(())
}

fn store(
    client: &mut AgentClient,
    profile: &str,
    token: Secret,
    source_profile: Option<String>,
) -> Result<(LicenseToken, String)> {
    let request = Request::LicenseImport {
        profile: profile.to_string(),
        token,
        source_profile,
    };
    let stored = match client.request(request, REQUEST_TIMEOUT)? {
        Response::LicenseStored(stored) => stored,
        other => bail!("unexpected answer from the agent: {}", other.kind()),
    };
    Ok((stored, where_kept(client)))
}

/// Where the agent keeps tokens, for the line that says it stored one: the keyring, or a store
/// that loses it (keyutils at reboot, memory when the agent stops).
fn where_kept(client: &mut AgentClient) -> String {
    match client.request(Request::Status, REQUEST_TIMEOUT) {
        Ok(Response::Status(status)) => match status.store.as_str() {
            "secret-service" | "keychain" => "in the keyring".to_string(),
            store => format!("in the agent's {store} store ({})", status.store_durability),
        },
        _ => "in the agent's store".to_string(),
    }
}

fn print_stored((stored, kept): &(LicenseToken, String)) {
    println!(
        "Stored License Manager token {} for {} {kept} for profile {}; it expires {}.",
        stored.token_id, stored.license_arn, stored.profile, stored.expires_at
    );
}

struct CreateToken {
    profile: String,
    license_arn: String,
    role_arns: Vec<String>,
    expiration_days: Option<i32>,
    token_properties: Vec<String>,
    source_profile: Option<String>,
    client_token: Option<String>,
}

fn create_token(args: CreateToken) -> Result<()> {
    if args.token_properties.len() > 3 {
        bail!("at most 3 --token-property values are allowed (the token's `amr` claim)");
    }
    let runtime = runtime()?;
    let profile = license_profile(&runtime, &args.profile)?;
    let credentials = signing_credentials(args.source_profile.as_deref())?;
    // The agent that will keep the token is reached before the token exists (and again after:
    // it closes a connection that stays quiet through CreateToken's retries).
    drop(AgentClient::connect()?);
    let client = runtime.block_on(signed_client(&profile.region, credentials));
    // One ClientToken for every try of this command (the SDK's retries and ours): a retried
    // call never makes two tokens.
    let client_token = match args.client_token.clone() {
        Some(given) if given.trim().is_empty() => bail!("--client-token must not be empty"),
        Some(given) => given,
        None => client_token()?,
    };
    let mut waits = RATE_LIMIT_RETRIES.iter();
    let answer = loop {
        let sent = runtime.block_on(
            client
                .create_token()
                .license_arn(&args.license_arn)
                .set_role_arns(Some(args.role_arns.clone()))
                .set_expiration_in_days(args.expiration_days)
                .set_token_properties(
                    (!args.token_properties.is_empty()).then(|| args.token_properties.clone()),
                )
                .client_token(&client_token)
                .send(),
        );
        match sent {
            Ok(answer) => break answer,
            Err(err) if err.code() == Some("RateLimitExceededException") => match waits.next() {
                Some(wait) => std::thread::sleep(*wait),
                None => bail!(
                    "License Manager's CreateToken: {}; try again in a minute",
                    describe(&err)
                ),
            },
            Err(err) => bail!("{}", create_token_advice(&args, &profile, &err)),
        }
    };
    let token = answer
        .token()
        .context("CreateToken answered without a Token; try again")?;
    let stored = AgentClient::connect()
        .map_err(anyhow::Error::from)
        .and_then(|mut agent| {
            store(
                &mut agent,
                &args.profile,
                Secret::new(token),
                args.source_profile.clone(),
            )
        })
        .map_err(|err| {
        // The token exists only in this process now: say how to get it back.
        anyhow::anyhow!(
            "License Manager created token {} but it was not stored: {err:#}; once that is fixed, run the same command with `--client-token {client_token}` within ten minutes to get the same token again (not a new one)",
            answer.token_id().unwrap_or("(no id)")
        )
    })?;
    print_stored(&stored);
    Ok(())
}

fn create_token_advice(
    args: &CreateToken,
    profile: &LicenseProfileConfig,
    err: &(impl ProvideErrorMetadata + std::error::Error),
) -> String {
    let signer = args
        .source_profile
        .as_deref()
        .map(|s| format!("profile {s}"))
        .unwrap_or_else(|| "the AWS_* keys in the environment".into());
    let fix = match err.code() {
        Some("ValidationException") => "check --license-arn, --role-arn and --token-property (at most 3)".to_string(),
        Some("AuthorizationException") | Some("AccessDeniedException") => format!("{signer} may not create tokens for this license; sign with a role of the license's account that may (--source-profile)"),
        Some("ResourceNotFoundException") => "no such license: check --license-arn".to_string(),
        Some("ResourceLimitExceededException") => "the license has as many tokens as it may; delete one (`sso-agent license delete --upstream`, or ListTokens + DeleteToken)".to_string(),
        Some("RedirectException") => format!("the license's home Region is not {}: set the profile's `region` to it", profile.region),
        Some("ServerInternalException") => "License Manager failed on its side; run the same command again".to_string(),
        _ => format!("check {signer}, the network, and AWS_ENDPOINT_URL_LICENSE_MANAGER if set"),
    };
    format!(
        "License Manager's CreateToken failed: {}; {fix}",
        describe(err)
    )
}

fn describe(err: &(impl ProvideErrorMetadata + std::error::Error)) -> String {
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => aws_sdk_licensemanager::error::DisplayErrorContext(err).to_string(),
    }
}

/// `--source-profile S` through the agent (any profile it serves), else the environment's keys.
fn signing_credentials(source_profile: Option<&str>) -> Result<SigningCredentials> {
    if let Some(source) = source_profile {
        let credentials = sso_agent::credential_process::fetch(source)?;
        return Ok(SigningCredentials::new(
            credentials.access_key_id.clone(),
            credentials.secret_access_key.clone(),
            Some(credentials.session_token.clone()),
            None,
            "sso-agent",
        ));
    }
    let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        (Some(key), Some(secret)) => Ok(SigningCredentials::new(
            key,
            secret,
            var("AWS_SESSION_TOKEN"),
            None,
            "environment",
        )),
        _ => bail!("CreateToken must be signed: pass --source-profile S (a profile sso-agent serves, e.g. an SSO one), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
    }
}

async fn signed_client(
    region: &str,
    credentials: SigningCredentials,
) -> aws_sdk_licensemanager::Client {
    let sdk = sso_agent::aws_sdk::sdk_config(region).await;
    let config = aws_sdk_licensemanager::config::Builder::from(&sdk)
        .credentials_provider(credentials)
        .build();
    aws_sdk_licensemanager::Client::from_conf(config)
}

/// A fresh idempotency token (128 random bits, hex).
fn client_token() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|err| anyhow::anyhow!("cannot get random bytes for the ClientToken: {err}"))?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

fn delete(profile: &str, upstream: bool, source_profile: Option<String>) -> Result<()> {
    let runtime = runtime()?;
    let config = license_profile(&runtime, profile)?;
    let mut client = AgentClient::connect()?;
    if upstream {
        let status = match client.request(Request::Status, REQUEST_TIMEOUT)? {
            Response::Status(status) => status,
            other => bail!("unexpected answer from the agent: {}", other.kind()),
        };
        let Some(token) = status
            .licenses
            .into_iter()
            .find(|line| line.profile == config.name)
            .and_then(|line| line.token)
        else {
            bail!("profile {profile} has no token in the keyring, so there is none to delete upstream");
        };
        let Some(signer) = source_profile.or(token.source_profile.clone()) else {
            bail!("--upstream needs --source-profile S to sign DeleteToken (this token was imported, so sso-agent does not know who made it)");
        };
        let credentials = signing_credentials(Some(&signer))?;
        let lm = runtime.block_on(signed_client(&config.region, credentials));
        match runtime.block_on(lm.delete_token().token_id(&token.token_id).send()) {
            Ok(_) => println!("Deleted License Manager token {} upstream.", token.token_id),
            Err(err) if err.code() == Some("ResourceNotFoundException") => {
                println!("License Manager has no token {} (already deleted).", token.token_id)
            }
            Err(err) => bail!(
                "License Manager's DeleteToken failed: {}; the token is kept in the keyring (sign with a role that may delete it: --source-profile S)",
                describe(&err)
            ),
        }
    }
    match client.request(
        Request::LicenseForget {
            profile: config.name.clone(),
        },
        REQUEST_TIMEOUT,
    )? {
        Response::LicenseForgotten {
            forgotten: true, ..
        } => {
            println!(
                "Forgot the License Manager token of profile {}.",
                config.name
            )
        }
        Response::LicenseForgotten { .. } => {
            println!("Profile {} had no License Manager token.", config.name)
        }
        other => bail!("unexpected answer from the agent: {}", other.kind()),
    }
    Ok(())
}
