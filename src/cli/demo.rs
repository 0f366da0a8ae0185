//! `sso-agent demo`: the whole product against the embedded emulator, in a temporary home —
//! a login approved on the verification page, credential_process answers, status, logout.
//! It never touches the real ~/.aws or the real keyring (the demo agent keeps tokens in memory).

use anyhow::{bail, Context, Result};
use serde_json::Value;
use sso_agent::emulator::fixture::DEFAULT_LICENSE_ARN;
use sso_agent::emulator::{Fixture, RunningEmulator};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SESSION: &str = "demo";
const CALLS: u32 = 200;
const LICENSE_ROLE: &str = "arn:aws:iam::111122223333:role/AWSLicenseManagerConsumptionRole";

pub fn run() -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let emulator = runtime
        .block_on(RunningEmulator::start(
            "127.0.0.1:0".parse()?,
            Fixture::default(),
        ))
        .context("cannot start the emulator")?;
    let demo = Demo::create(&emulator.base_url)?;
    let result = demo.walk_through(&runtime, &emulator);
    demo.stop_agent();
    result // dropping `demo` removes its temporary directory
}

struct Demo {
    /// Made by `tempfile`: a name nobody can guess and claim first, mode 0700, removed on drop.
    _dir: tempfile::TempDir,
    root: PathBuf,
    socket: PathBuf,
    endpoint: String,
    exe: PathBuf,
    /// `sso-agent-credential-process`, the helper the README has tools run, built next to `exe`.
    helper: PathBuf,
    agent: std::cell::RefCell<Option<Child>>,
    /// Credential requests made so far, by profile: the summary compares them with the upstream calls.
    requests: std::cell::RefCell<std::collections::BTreeMap<String, usize>>,
}

impl Demo {
    fn create(endpoint: &str) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("sso-agent-demo-")
            .tempdir()
            .context("cannot create the demo's temporary directory")?;
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("home/.aws"))?;
        let exe = std::env::current_exe()?;
        let helper = exe.with_file_name("sso-agent-credential-process");
        if !helper.is_file() {
            bail!(
                "the demo runs the helper your tools will run, {}, and it is not built; build both binaries first: cargo build --release --locked (for target/release; without --release for target/debug)",
                helper.display()
            );
        }
        // The demo approves its login on the emulator's device page, so it asks for the device
        // code even on a desktop (where the agent would choose the browser login).
        let config = format!(
            "[sso-session {SESSION}]\nsso_start_url = https://demo.awsapps.com/start\nsso_region = us-east-1\nsso_registration_scopes = sso:account:access\nsso_agent_login_flow = device-code\n\n\
             [profile dev]\nsso_session = {SESSION}\nsso_account_id = 111122223333\nsso_role_name = Developer\n\n\
             [profile dev-tools]\ncredential_process = {helper} --profile dev\n\n\
             [profile licensed]\nsso_agent_license_role_arn = {LICENSE_ROLE}\nregion = us-east-1\n",
            helper = helper.display()
        );
        std::fs::write(root.join("home/.aws/config"), &config)?;
        Ok(Self {
            _dir: dir,
            socket: root.join("run/agent.sock"),
            root,
            endpoint: endpoint.to_string(),
            exe,
            helper,
            agent: std::cell::RefCell::new(None),
            requests: Default::default(),
        })
    }

    fn command(&self, args: &[&str]) -> Command {
        self.command_of(&self.exe, args)
    }

    /// `program` with the demo's environment (its home, socket and emulator endpoints).
    fn command_of(&self, program: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        command
            .args(args)
            .env("HOME", self.root.join("home"))
            .env("AWS_CONFIG_FILE", self.root.join("home/.aws/config"))
            .env("SSO_AGENT_SOCKET", &self.socket)
            .env("AWS_ENDPOINT_URL_SSO_OIDC", &self.endpoint)
            .env("AWS_ENDPOINT_URL_SSO", &self.endpoint)
            .env("AWS_ENDPOINT_URL_LICENSE_MANAGER", &self.endpoint)
            .env("AWS_ENDPOINT_URL_STS", &self.endpoint)
            .env("SSO_AGENT_STORE", "memory")
            .env("SSO_AGENT_NO_AUTOSTART", "1")
            .env_remove("AWS_PROFILE")
            .env_remove("BROWSER");
        command
    }

    fn run(&self, args: &[&str]) -> Result<Output> {
        self.run_program(&self.exe, args)
    }

    /// One run of the `sso-agent-credential-process` helper, as a tool runs it.
    fn run_helper(&self, profile: &str) -> Result<Output> {
        self.count_request(profile);
        self.run_program(&self.helper, &["--profile", profile])
    }

    /// Counts one request for `profile`'s credentials made to the agent.
    fn count_request(&self, profile: &str) {
        *self
            .requests
            .borrow_mut()
            .entry(profile.into())
            .or_default() += 1;
    }

    fn requests(&self, profile: &str) -> usize {
        self.requests.borrow().get(profile).copied().unwrap_or(0)
    }

    fn run_program(&self, program: &Path, args: &[&str]) -> Result<Output> {
        let output = self.command_of(program, args).output()?;
        if !output.status.success() {
            bail!(
                "`{} {}` failed: {}",
                program.file_name().unwrap_or_default().to_string_lossy(),
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(output)
    }

    fn walk_through(
        &self,
        runtime: &tokio::runtime::Runtime,
        emulator: &RunningEmulator,
    ) -> Result<()> {
        println!("sso-agent demo — everything runs on this machine against the embedded IAM Identity Center emulator");
        println!("  emulator      {}", self.endpoint);
        println!("  temporary home {}", self.root.join("home").display());
        println!("  ~/.aws/config: [sso-session {SESSION}], [profile dev] (its role), [profile dev-tools] (credential_process = sso-agent-credential-process --profile dev)");
        println!("                 and [profile licensed] (a License Manager token's role)");
        println!("  tokens are kept in memory for the demo (your keyring is not touched)");
        if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
            println!("  a desktop notification shows the login code while the login waits");
        }
        println!();

        println!("1. Start the agent: sso-agent daemon");
        self.start_agent()?;
        println!("   listening on {}\n", self.socket.display());

        println!("2. Log in: sso-agent login --sso-session {SESSION} --no-browser");
        self.login(runtime, emulator)?;

        println!("\n3. The helper a tool runs for [profile dev-tools]: sso-agent-credential-process --profile dev");
        let output = self.run_helper("dev")?;
        let credentials: Value = serde_json::from_slice(&output.stdout)?;
        println!(
            "   {{\"Version\": 1, \"AccessKeyId\": {}, \"SecretAccessKey\": \"{}…\", \"SessionToken\": \"{}…\", \"Expiration\": {}}}",
            credentials["AccessKeyId"],
            prefix(&credentials["SecretAccessKey"]),
            prefix(&credentials["SessionToken"]),
            credentials["Expiration"]
        );

        println!("\n4. It is asked again and again (cached in the agent's memory):");
        let mut times = Vec::with_capacity(CALLS as usize);
        for _ in 0..CALLS {
            let started = Instant::now();
            self.run_helper("dev")?;
            times.push(started.elapsed());
        }
        times.sort_unstable();
        println!(
            "   {CALLS} runs of sso-agent-credential-process: {:.2} ms each (median; fastest {:.2} ms), timed by the demo",
            times[times.len() / 2].as_secs_f64() * 1000.0,
            times[0].as_secs_f64() * 1000.0
        );
        println!("   from spawning it to its exit: process start-up, one request over the agent's socket, the JSON");
        println!("   printed into a pipe (scripts/bench measures it against a static C floor: docs/benchmarks.md)");

        println!("\n5. A License Manager profile next to the SSO one: a refresh token made with dev's credentials,");
        println!("   sso-agent license create-token --profile licensed --source-profile dev --license-arn … --role-arn …");
        let created = self.run(&[
            "license",
            "create-token",
            "--profile",
            "licensed",
            "--source-profile",
            "dev",
            "--license-arn",
            DEFAULT_LICENSE_ARN,
            "--role-arn",
            LICENSE_ROLE,
        ])?;
        // create-token asked the agent for dev's credentials, to call CreateToken with them.
        self.count_request("dev");
        print!("   {}", String::from_utf8_lossy(&created.stdout));
        println!("   then sso-agent-credential-process --profile licensed (GetAccessToken, AssumeRoleWithWebIdentity):");
        let output = self.run_helper("licensed")?;
        let licensed: Value = serde_json::from_slice(&output.stdout)?;
        println!(
            "   {{\"Version\": 1, \"AccessKeyId\": {}, \"SecretAccessKey\": \"{}…\", …, \"Expiration\": {}}}",
            licensed["AccessKeyId"],
            prefix(&licensed["SecretAccessKey"]),
            licensed["Expiration"]
        );
        for _ in 0..10 {
            self.run_helper("licensed")?;
        }
        println!("   and 10 times more (answered from the agent's cache)");

        println!("\n6. sso-agent status");
        let status = self.run(&["status"])?;
        for line in String::from_utf8_lossy(&status.stdout).lines() {
            println!("   {line}");
        }

        println!("\n7. What IAM Identity Center saw:");
        let log = emulator.state.lock().log.clone();
        let count = |operation: &str| {
            log.iter()
                .filter(|call| call.operation == operation)
                .count()
        };
        for operation in [
            "RegisterClient",
            "StartDeviceAuthorization",
            "CreateToken",
            "GetRoleCredentials",
        ] {
            println!("   {operation:<26} {}", count(operation));
        }
        println!(
            "   ({} credential requests for dev: steps 3 and 4, and one by create-token in step 5; {} GetRoleCredentials)",
            self.requests("dev"),
            count("GetRoleCredentials")
        );
        println!("   and License Manager and STS:");
        for operation in [
            "AWSLicenseManager.CreateToken",
            "AWSLicenseManager.GetAccessToken",
            "AssumeRoleWithWebIdentity",
        ] {
            println!("   {operation:<33} {}", count(operation));
        }
        println!(
            "   ({} credential requests for licensed in step 5, {} GetAccessToken, {} AssumeRoleWithWebIdentity)",
            self.requests("licensed"),
            count("AWSLicenseManager.GetAccessToken"),
            count("AssumeRoleWithWebIdentity")
        );

        println!("\n8. sso-agent logout --all");
        let logout = self.run(&["logout", "--all"])?;
        print!("   {}", String::from_utf8_lossy(&logout.stdout));
        println!("\nDone. Run it for real: see \"Use it\" in the README.");
        Ok(())
    }

    fn start_agent(&self) -> Result<()> {
        std::fs::create_dir_all(self.socket.parent().unwrap_or(Path::new("/")))?;
        set_private(self.socket.parent().unwrap_or(Path::new("/")))?;
        let log = std::fs::File::create(self.root.join("agent.log"))?;
        let mut command = self.command(&["daemon"]);
        command.stdout(Stdio::null()).stderr(log);
        // The demo's agent ends with the demo, however the demo ends (Ctrl-C, a closed pipe):
        // its temporary home and socket are gone then, so nothing else could stop it.
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                command.pre_exec(|| {
                    rustix::process::set_parent_process_death_signal(Some(
                        rustix::process::Signal::TERM,
                    ))
                    .map_err(std::io::Error::from)
                });
            }
        }
        let child = command.spawn().context("cannot start the agent")?;
        *self.agent.borrow_mut() = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            if Instant::now() > deadline {
                bail!(
                    "the agent did not start; its log: {}",
                    std::fs::read_to_string(self.root.join("agent.log"))?
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Runs `sso-agent login`, and approves its code on the emulator's page as a person would.
    fn login(&self, runtime: &tokio::runtime::Runtime, emulator: &RunningEmulator) -> Result<()> {
        let mut login = self
            .command(&["login", "--sso-session", SESSION, "--no-browser"])
            .stdout(Stdio::piped())
            .spawn()?;
        let mut lines = BufReader::new(login.stdout.take().context("no stdout")?).lines();
        let mut user_code = None;
        for line in lines.by_ref() {
            let line = line?;
            println!("   | {line}");
            if let Some(code) = line.trim().strip_prefix("code") {
                user_code = Some(code.trim().to_string());
            }
            if line.starts_with("Waiting") {
                break;
            }
        }
        let user_code = user_code.context("the login printed no code")?;
        println!("   (the demo submits the page's Approve form for you, as a browser would)");
        runtime.block_on(approve_on_page(&emulator.base_url, &user_code))?;
        for line in lines {
            println!("   | {}", line?);
        }
        if !login.wait()?.success() {
            bail!("the login failed");
        }
        Ok(())
    }

    fn stop_agent(&self) {
        if let Some(mut agent) = self.agent.borrow_mut().take() {
            if let Some(pid) = rustix::process::Pid::from_raw(agent.id() as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            let _ = agent.wait();
        }
    }
}

/// Submits the verification page's Approve form, the request a browser sends on the click.
/// One HTTP/1.1 POST to a loopback port: not worth an HTTP client dependency in the binary.
async fn approve_on_page(base_url: &str, user_code: &str) -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base_url.trim_start_matches("http://");
    let body = format!("user_code={user_code}&action=approve");
    let request = format!(
        "POST /device HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    if !answer.starts_with("HTTP/1.1 200") {
        bail!(
            "the verification page refused the approval: {}",
            answer.lines().next().unwrap_or_default()
        );
    }
    Ok(())
}

fn prefix(value: &Value) -> String {
    value.as_str().unwrap_or_default().chars().take(6).collect()
}

fn set_private(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}
