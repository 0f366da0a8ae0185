//! What travels over the agent's Unix socket: one JSON message per frame, a 4-byte big-endian
//! length before it, capped at `MAX_FRAME` before anything is allocated. Every request carries
//! `PROTOCOL_VERSION`; an agent that speaks another answers with an error that says to restart it.

pub use crate::login_flow::LoginFlow;
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

/// Declared by hand (not derived from the crate version): bump it when a message changes shape.
/// History (docs/design.md has the reasons): 2 `notified`, `force`, `stop`, `config_file`;
/// 3 container grants; 4 `container_revoke`, `profile`; 5 `account_roles`; 6 License Manager;
/// 7 the browser (PKCE) login: `login` gains `use_device_code`, `redirect_port`, `no_browser`,
/// `login_pending` gains `flow` and `flow_reason`, `status` sessions gain `login_flow`.
/// 8 `import_cli_cache` and its answer `cli_cache_imported` (the AWS CLI's token cache).
/// 9 `await_login` gains `shown`: a login that publishes another link or code answers with it;
/// `status` sessions gain `imported_from` (optional); `forward_open` and its answer
/// `forward_opened` (a socket of its own per `sso-agent ssh`).
pub const PROTOCOL_VERSION: u32 = 9;
/// The largest request the agent accepts (ssh-agent's cap).
pub const MAX_FRAME: usize = 256 * 1024;
/// The largest answer a client accepts: `status` with thousands of cached roles is larger than a
/// request ever is, and comes from the user's own agent.
pub const MAX_RESPONSE: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Role credentials for a profile. Without `wait`, a session that needs a login answers
    /// `LoginPending` at once (the login is started); with it, the answer waits for the login.
    Credentials {
        profile: String,
        wait: bool,
    },
    /// Starts (or joins) the login of a session, named directly or through a profile. With
    /// `force`, logs in again even while the token is valid.
    Login {
        session: Option<String>,
        profile: Option<String>,
        #[serde(default)]
        force: bool,
        /// Use the device code for this login, whatever the agent would choose; a browser
        /// login already waiting for the session gives way to it.
        #[serde(default)]
        use_device_code: bool,
        /// The browser login's callback port (`--redirect-port N`); absent: an ephemeral one.
        #[serde(default)]
        redirect_port: Option<u16>,
        /// Do not open a browser for a browser login this request starts (the caller shows the
        /// URL).
        #[serde(default)]
        no_browser: bool,
    },
    /// Waits for the session's login to end. With `shown` (the `verification_uri_complete` the
    /// caller shows), a login that publishes another one (a switch to the device code or to
    /// another port, a re-registration) answers `LoginPending` with it, and the caller waits again.
    AwaitLogin {
        session: String,
        #[serde(default)]
        shown: Option<String>,
    },
    Status,
    /// Logs out of one session, or of all.
    Logout {
        session: Option<String>,
        /// The session this profile uses (a legacy profile's has no name of its own).
        #[serde(default)]
        profile: Option<String>,
        all: bool,
    },
    /// Stops the agent: it answers with its `Status`, then shuts down as on SIGTERM.
    Stop,
    /// A grant on the container-credentials endpoint for one profile (the endpoint starts on
    /// the first grant). It lasts `ttl_seconds`, or with `for_caller` as long as the process
    /// that asked (which `exec --ecs` then replaces with its command) runs.
    ContainerGrant {
        profile: String,
        #[serde(default)]
        ttl_seconds: Option<u64>,
        #[serde(default)]
        for_caller: bool,
    },
    /// Ends the profile's timed (`ecs-env`) grants.
    ContainerRevoke {
        profile: String,
    },
    /// What `exec`, `export` and `ecs-env` need of a profile besides its credentials, from the
    /// agent's parsed config: a client parsing a 10,000-profile file itself spends more on that
    /// than on everything else it does.
    Profile {
        profile: String,
    },
    /// Every account and role the session's token may use (ListAccounts + ListAccountRoles,
    /// every page), listed by the agent with its token: the token never leaves it. `session`
    /// absent: the only one configured. `wait` as for `Credentials`.
    AccountRoles {
        #[serde(default)]
        session: Option<String>,
        wait: bool,
    },
    /// Stores a License Manager profile's refresh token (a JWT) in the keyring, replacing the
    /// one it had; the profile's cached credentials are dropped.
    LicenseImport {
        profile: String,
        token: crate::secret::Secret,
        /// The profile that signed CreateToken, kept for `license delete --upstream`.
        #[serde(default)]
        source_profile: Option<String>,
    },
    /// Forgets a License Manager profile's token (keyring and memory).
    LicenseForget {
        profile: String,
    },
    /// Takes the AWS CLI's login for a session (`~/.aws/sso/cache/<sha1>.json`: token and
    /// registration) into the agent and its keyring. Only the name crosses the socket: the agent
    /// reads the file itself. `session` absent: the only one configured.
    ImportCliCache {
        #[serde(default)]
        session: Option<String>,
    },
    /// A listening socket of its own for one `sso-agent ssh` (the process that asks, which then
    /// becomes `ssh`): the agent closes and removes it when that process exits. Requests on it
    /// come from the remote host: they are answered from the agent's own config, never stop or
    /// grant container credentials, and with `confirm` the first one waits for the person to
    /// choose Allow in a desktop notification (Deny: nothing is served on it).
    ForwardOpen {
        #[serde(default)]
        confirm: bool,
        /// What the notification names (the ssh destination), for the person to recognise.
        #[serde(default)]
        label: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    Credentials(Credentials),
    LoginPending(PendingLoginInfo),
    LoggedIn {
        session: String,
        expires_at: String,
    },
    Status(Box<Status>),
    LoggedOut {
        sessions: Vec<String>,
    },
    Error {
        kind: ErrorKind,
        message: String,
    },
    ContainerGrant(ContainerGrant),
    ContainerRevoked {
        ended: usize,
    },
    Profile(ProfileInfo),
    AccountRoles(AccountRoles),
    LicenseStored(LicenseToken),
    LicenseForgotten {
        profile: String,
        /// Whether there was a token to forget.
        forgotten: bool,
    },
    /// The AWS CLI's login is now the session's (never a token: what it is and how long).
    CliCacheImported {
        session: String,
        /// The cache file it came from.
        file: String,
        /// The imported access token's expiry (RFC 3339); past it, the agent refreshes.
        expires_at: String,
        /// Whether it came with a refresh token and a registration, so the agent can renew it.
        refreshable: bool,
    },
    /// The socket `ForwardOpen` made (absolute path, on the agent's host).
    ForwardOpened {
        socket: String,
    },
}

impl Response {
    /// The answer's type name, for messages (never its content).
    pub fn kind(&self) -> &'static str {
        match self {
            Response::Credentials(_) => "credentials",
            Response::LoginPending(_) => "login_pending",
            Response::LoggedIn { .. } => "logged_in",
            Response::Status(_) => "status",
            Response::LoggedOut { .. } => "logged_out",
            Response::Error { .. } => "error",
            Response::ContainerGrant(_) => "container_grant",
            Response::ContainerRevoked { .. } => "container_revoked",
            Response::Profile(_) => "profile",
            Response::AccountRoles(_) => "account_roles",
            Response::LicenseStored(_) => "license_stored",
            Response::LicenseForgotten { .. } => "license_forgotten",
            Response::CliCacheImported { .. } => "cli_cache_imported",
            Response::ForwardOpened { .. } => "forward_opened",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request itself is wrong (unknown type, bad frame, version mismatch).
    BadRequest,
    /// `~/.aws/config` does not say what the request needs.
    Config,
    /// The session is not logged in and the login did not succeed.
    Login,
    /// IAM Identity Center refused or could not be reached.
    Upstream,
    /// The token store failed.
    Store,
    /// The connection's peer is not the agent's user.
    Forbidden,
}

/// The `credential_process` fields, already in its format (RFC 3339 expiration).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

/// Where a container-credentials client asks, and the `Authorization` value it must send.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerGrant {
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
    pub url: String,
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`: a bearer secret.
    pub token: String,
    /// RFC 3339; absent for a grant that lasts as long as its process.
    pub expires_at: Option<String>,
}

impl std::fmt::Debug for ContainerGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerGrant")
            .field("url", &self.url)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLoginInfo {
    pub session: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub user_code: String,
    /// Seconds left before the code expires, when this answer was made.
    pub expires_in: u64,
    /// The agent showed the login on the desktop: its notification with this code was shown,
    /// or (a browser login) it opened the page (absent from an older agent: false).
    #[serde(default)]
    pub notified: bool,
    /// Which login this is: `browser` (both URIs are the authorize URL, no user code; the
    /// agent opened it) or `device-code`.
    #[serde(default = "device_code")]
    pub flow: LoginFlow,
    /// Why that flow ("DISPLAY is set", "--use-device-code", …).
    #[serde(default)]
    pub flow_reason: String,
}

fn device_code() -> LoginFlow {
    LoginFlow::DeviceCode
}

/// The flow of a session's last or current login, and why it was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginFlowStatus {
    pub flow: LoginFlow,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub pid: u32,
    pub store: String,
    pub store_durability: String,
    /// The stores passed over at start, each with the reason.
    pub store_passed_over: Vec<String>,
    /// Reads of the token store since the agent started (one per session opened).
    pub store_reads: u64,
    pub sessions: Vec<SessionStatus>,
    pub roles: Vec<RoleStatus>,
    /// Why the config file cannot be read, while it cannot.
    #[serde(default)]
    pub config_error: Option<String>,
    /// The container-credentials endpoint, once a grant started it (`http://127.0.0.1:PORT`).
    #[serde(default)]
    pub container_endpoint: Option<String>,
    /// Its grants alive now.
    #[serde(default)]
    pub container_grants: Vec<GrantStatus>,
    /// The config file the agent serves.
    #[serde(default)]
    pub config_file: String,
    /// The License Manager profiles the config names.
    #[serde(default)]
    pub licenses: Vec<LicenseStatus>,
}

/// What a stored refresh token says (its claims), never the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseToken {
    pub profile: String,
    pub token_id: String,
    pub license_arn: String,
    /// RFC 3339.
    pub expires_at: String,
    #[serde(default)]
    pub source_profile: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseStatus {
    pub profile: String,
    pub role_arn: String,
    pub region: String,
    /// The stored refresh token's claims; absent: none stored.
    pub token: Option<LicenseToken>,
    /// The role credentials' expiry while they are cached (RFC 3339).
    pub credentials_expiration: Option<String>,
    /// What is wrong (no token, expired, deleted, the last failure) and the command that fixes it.
    pub problem: Option<String>,
}

/// A profile's settings beyond its role, as `Request::Profile` answers them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileInfo {
    /// The profile's `region` (a helper profile's own wins over the profile it names).
    pub region: Option<String>,
    /// The key that makes the config's `[default]` a credentials source, which the SDKs try
    /// before a container endpoint.
    pub default_source: Option<String>,
}

/// What `Request::AccountRoles` answers: the session it listed, and its roles in the portal's
/// order (accounts as ListAccounts gives them, each account's roles as ListAccountRoles does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRoles {
    pub session: String,
    /// The session's `sso_region`, the region generated profiles get.
    pub region: String,
    /// A legacy profile's session (named by its start URL), which has no `[sso-session]`.
    pub legacy: bool,
    pub roles: Vec<AccountRole>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRole {
    pub account_id: String,
    pub account_name: String,
    pub role_name: String,
}

/// A live container-credentials grant: whose, and until when (never its token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantStatus {
    pub profile: String,
    /// RFC 3339, for a timed (`ecs-env`) grant.
    pub ends_at: Option<String>,
    /// The command it ends with, for an `exec --ecs` grant.
    pub pid: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStatus {
    pub name: String,
    pub start_url: String,
    pub region: String,
    pub logged_in: bool,
    pub expires_at: Option<String>,
    pub refreshable: bool,
    pub pending_login: Option<PendingLoginInfo>,
    /// Why the last refresh failed, while it keeps failing.
    pub last_error: Option<String>,
    /// The flow of the last (or current) login since the agent started, and why.
    #[serde(default)]
    pub login_flow: Option<LoginFlowStatus>,
    /// The AWS CLI cache file the login was imported from (`import_cli_cache`), when that is
    /// the last login since the agent started; `login_flow` is then null (no flow ran).
    #[serde(default)]
    pub imported_from: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleStatus {
    pub session: String,
    pub account_id: String,
    pub role_name: String,
    pub expiration: String,
}

/// A request as it travels: the version beside the request's own fields, and the config file
/// the caller means (an agent serving another file says so instead of answering from it).
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_file: Option<String>,
    #[serde(flatten)]
    pub body: T,
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("the peer closed the connection")]
    Closed,
    #[error("frame of {0} bytes is larger than the {1}-byte limit")]
    TooLarge(usize, usize),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Encodes one frame: length, then the JSON of `message`.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    let json = serde_json::to_vec(message).expect("protocol messages always serialize");
    let mut frame = Vec::with_capacity(4 + json.len());
    frame.extend_from_slice(&(json.len() as u32).to_be_bytes());
    frame.extend_from_slice(&json);
    frame
}

/// The payload length a frame header announces, checked against the request cap.
pub fn payload_len(header: [u8; 4]) -> Result<usize, FrameError> {
    payload_len_within(header, MAX_FRAME)
}

fn payload_len_within(header: [u8; 4], limit: usize) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > limit {
        return Err(FrameError::TooLarge(len, limit));
    }
    Ok(len)
}

/// Reads one request-sized frame from a blocking stream.
pub fn read_frame(reader: &mut impl Read) -> Result<Vec<u8>, FrameError> {
    read_frame_within(reader, MAX_FRAME)
}

/// Reads one frame of at most `limit` bytes (clients reading answers use `MAX_RESPONSE`).
pub fn read_frame_within(reader: &mut impl Read, limit: usize) -> Result<Vec<u8>, FrameError> {
    let mut header = [0u8; 4];
    if let Err(err) = reader.read_exact(&mut header) {
        return Err(match err.kind() {
            io::ErrorKind::UnexpectedEof => FrameError::Closed,
            _ => FrameError::Io(err),
        });
    }
    let mut payload = vec![0u8; payload_len_within(header, limit)?];
    reader.read_exact(&mut payload)?;
    Ok(payload)
}

pub fn write_frame(writer: &mut impl Write, frame: &[u8]) -> io::Result<()> {
    writer.write_all(frame)?;
    writer.flush()
}

/// Decodes a request payload: version first, so a newer client gets "restart the agent" rather
/// than a parse error.
/// The error is the message for a `BadRequest` answer.
pub fn decode_request(payload: &[u8]) -> Result<Request, String> {
    decode_envelope(payload).map(|envelope| envelope.body)
}

/// `decode_request`, with the rest of the envelope.
pub fn decode_envelope(payload: &[u8]) -> Result<Envelope<Request>, String> {
    match decode_credentials_request(payload) {
        Some(envelope) => Ok(envelope),
        None => decode_any_envelope(payload),
    }
}

/// The request every `credential_process` run sends (exactly its five fields), read in one pass
/// with its `type` and `profile` borrowed. The general decoding reads a frame twice (the version first, to name a mismatch)
/// and buffers every field twice on the way (`flatten`, then the `type` tag), which was most of
/// what decoding cost. Anything this does not take as a current `credentials` request goes the
/// general way, which also words the errors; what it takes, the general way decodes the same
/// (the fuzz target checks that on every input).
pub fn decode_credentials_request(payload: &[u8]) -> Option<Envelope<Request>> {
    use std::borrow::Cow;
    // Unknown fields are refused, not skipped: serde skips a value by its syntax alone (no
    // depth limit, no UTF-8 or number range check), where the general way reads every one.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Credentials<'a> {
        version: u32,
        #[serde(rename = "type", borrow)]
        kind: Cow<'a, str>,
        #[serde(borrow)]
        profile: Cow<'a, str>,
        wait: bool,
        #[serde(default, borrow)]
        config_file: Option<Cow<'a, str>>,
    }
    // A derived struct also reads a JSON array (its fields in order): the general way does not.
    if payload.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    let request: Credentials = serde_json::from_slice(payload).ok()?;
    (request.version == PROTOCOL_VERSION && request.kind == "credentials").then(|| Envelope {
        version: request.version,
        config_file: request.config_file.map(Cow::into_owned),
        body: Request::Credentials {
            profile: request.profile.into_owned(),
            wait: request.wait,
        },
    })
}

/// Any request, its version checked first.
#[doc(hidden)]
pub fn decode_any_envelope(payload: &[u8]) -> Result<Envelope<Request>, String> {
    #[derive(Deserialize)]
    struct VersionOnly {
        version: Option<u32>,
    }
    let bad = |message: String| message;
    let version = serde_json::from_slice::<VersionOnly>(payload)
        .map_err(|err| bad(format!("the request is not a JSON object: {err}")))?
        .version;
    if version != Some(PROTOCOL_VERSION) {
        return Err(bad(format!(
            "the agent speaks protocol {PROTOCOL_VERSION} and the request {}; restart the agent so both are the same version (`sso-agent` was probably upgraded)",
            version.map_or("has none".to_string(), |v| format!("protocol {v}"))
        )));
    }
    serde_json::from_slice::<Envelope<Request>>(payload)
        .map_err(|err| bad(format!("unknown or malformed request: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_version_is_declared_by_hand() {
        // Changing a message's shape means changing this number and this test, on purpose.
        assert_eq!(PROTOCOL_VERSION, 9);
    }

    #[test]
    fn a_request_round_trips_through_a_frame() {
        let request = Request::Credentials {
            profile: "dev".into(),
            wait: true,
        };
        let frame = encode(&Envelope {
            version: PROTOCOL_VERSION,
            config_file: None,
            body: request.clone(),
        });
        let payload = read_frame(&mut frame.as_slice()).unwrap();
        assert_eq!(
            std::str::from_utf8(&payload).unwrap(),
            r#"{"version":9,"type":"credentials","profile":"dev","wait":true}"#
        );
        assert_eq!(decode_request(&payload).unwrap(), request);
    }

    #[test]
    fn the_credentials_fast_path_takes_only_what_the_general_way_decodes_the_same() {
        let taken = [
            r#"{"version":9,"type":"credentials","profile":"dev","wait":true}"#,
            r#" {"wait":false,"profile":"my dev","type":"credentials","version":9}"#,
            r#"{"version":9,"type":"credentials","profile":"d\u00e9v \"x\"","wait":true}"#,
            r#"{"version":9,"config_file":"/home/u/.aws/config","type":"credentials","profile":"p","wait":true}"#,
            r#"{"version":9,"config_file":null,"type":"credentials","profile":"p","wait":true}"#,
        ];
        for payload in taken {
            let fast = decode_credentials_request(payload.as_bytes()).expect(payload);
            let general = decode_any_envelope(payload.as_bytes()).expect(payload);
            assert_eq!(
                (fast.version, fast.config_file, fast.body),
                (general.version, general.config_file, general.body),
                "{payload}"
            );
        }
        let passed_on = [
            r#"{"version":8,"type":"credentials","profile":"dev","wait":true}"#,
            r#"{"version":9,"type":"status"}"#,
            r#"{"version":9,"type":"credentials","profile":"dev"}"#,
            r#"{"version":9,"version":9,"type":"credentials","profile":"dev","wait":true}"#,
            r#"[9,"credentials","dev",true]"#,
            r#"{"version":9,"type":"credentials","profile":"dev","wait":true} x"#,
            r#"{"version":9,"type":"credentials","profile":"p","wait":true,"later":[1,{"x":2}]}"#,
        ];
        for payload in passed_on {
            assert!(
                decode_credentials_request(payload.as_bytes()).is_none(),
                "{payload}"
            );
        }
        // Still answered as before, by the general way.
        assert!(decode_envelope(passed_on[0].as_bytes())
            .unwrap_err()
            .contains("restart the agent"));
        assert_eq!(
            decode_request(passed_on[1].as_bytes()).unwrap(),
            Request::Status
        );
        assert!(decode_request(passed_on[4].as_bytes()).is_err());
        // Values the general way refuses inside an unknown field: the fast path must not skip
        // past them to an answer.
        let fields = r#""version":9,"type":"credentials","profile":"p","wait":true"#;
        let mut refused: Vec<Vec<u8>> = [r#""x":1e400"#, r#""x":"\ud800""#]
            .iter()
            .map(|extra| format!("{{{fields},{extra}}}").into_bytes())
            .collect();
        let invalid_utf8: &[u8] = &[0xff];
        refused.push(
            [
                format!("{{{fields},\"x\":\"").as_bytes(),
                invalid_utf8,
                b"\"}",
            ]
            .concat(),
        );
        refused.push(
            format!("{{{fields},\"x\":{}{}}}", "[".repeat(200), "]".repeat(200)).into_bytes(),
        );
        for payload in &refused {
            let shown = String::from_utf8_lossy(payload);
            assert!(decode_any_envelope(payload).is_err(), "{shown}");
            assert!(decode_credentials_request(payload).is_none(), "{shown}");
        }
    }

    #[test]
    fn an_oversize_frame_is_refused_before_allocating() {
        let header = ((MAX_FRAME + 1) as u32).to_be_bytes();
        assert!(matches!(
            read_frame(&mut header.as_slice()),
            Err(FrameError::TooLarge(n, MAX_FRAME)) if n == MAX_FRAME + 1
        ));
        let huge = u32::MAX.to_be_bytes();
        assert!(matches!(payload_len(huge), Err(FrameError::TooLarge(..))));
        // An answer may be larger than a request, up to its own cap.
        let mut big = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
        big.resize(4 + MAX_FRAME + 1, b' ');
        assert_eq!(
            read_frame_within(&mut big.as_slice(), MAX_RESPONSE)
                .unwrap()
                .len(),
            MAX_FRAME + 1
        );
    }

    #[test]
    fn wrong_versions_and_unknown_requests_are_errors_not_panics() {
        let message = |payload: &str| decode_request(payload.as_bytes()).unwrap_err();
        assert!(message(r#"{"version":1,"type":"status"}"#).contains("restart the agent"));
        assert!(message(r#"{"type":"status"}"#).contains("restart the agent"));
        assert!(message(r#"{"version":9,"type":"launch_missiles"}"#).contains("unknown"));
        assert!(message("not json").contains("not a JSON object"));
        assert!(message("[1,2]").contains("not a JSON object"));
    }

    #[test]
    fn a_license_import_never_shows_its_token_under_debug() {
        let request = Request::LicenseImport {
            profile: "licensed".into(),
            token: crate::secret::Secret::new("canary-refresh-token"),
            source_profile: None,
        };
        assert!(!format!("{request:?}").contains("canary"));
        let payload = encode(&Envelope {
            version: PROTOCOL_VERSION,
            config_file: None,
            body: request.clone(),
        });
        assert_eq!(decode_request(&payload[4..]).unwrap(), request);
    }

    #[test]
    fn credentials_debug_hides_the_secret_parts() {
        let credentials = Credentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: "canary-secret".into(),
            session_token: "canary-token".into(),
            expiration: "2026-01-01T00:00:00Z".into(),
        };
        assert!(!format!("{credentials:?}").contains("canary"));
    }
}
