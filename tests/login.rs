//! Login and refresh against the emulator, with the tokens in the real Secret Service
//! (run under scripts/with-keyring, as scripts/test does).

mod common;

use common::*;
use serde_json::json;
use sso_agent::config::SsoSessionConfig;
use sso_agent::oidc::LoginError;
use sso_agent::session::{RefreshOutcome, Session};
use sso_agent::store::{self, StoreChoice, StoreKind, TokenStore};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

const HOUR: Duration = Duration::from_secs(3600);

fn session_config(label: &str) -> SsoSessionConfig {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    SsoSessionConfig {
        name: format!("login-{label}-{}-{nanos}", std::process::id()),
        start_url: START_URL.into(),
        region: REGION.into(),
        registration_scopes: vec!["sso:account:access".into()],
        login_flow: Default::default(),
        cli_cache: false,
    }
}

async fn secret_service() -> Arc<dyn TokenStore> {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "no D-Bus session: run the suite with scripts/test (or scripts/with-keyring cargo test)"
    );
    tokio::task::spawn_blocking(|| store::open(StoreChoice::Only(StoreKind::SecretService)))
        .await
        .unwrap()
        .expect("the Secret Service of scripts/with-keyring is unlocked")
        .store
}

/// The sso-oidc client as the agent builds it (`Client::new(&sdk_config(region))` in agent/mod.rs):
/// the product's retries and time limits, only the endpoint pointed at the emulator. (The
/// emulator's own tests keep `common::oidc`, one HTTP request per call.)
async fn product_oidc(emulator: &sso_agent::emulator::RunningEmulator) -> aws_sdk_ssooidc::Client {
    let sdk = sso_agent::aws_sdk::sdk_config(REGION).await;
    aws_sdk_ssooidc::Client::from_conf(
        aws_sdk_ssooidc::config::Builder::from(&sdk)
            .endpoint_url(&emulator.base_url)
            .build(),
    )
}

#[tokio::test]
async fn the_sessions_here_use_the_products_retries() {
    let emulator = emulator().await;
    let product = aws_sdk_ssooidc::Client::new(&sso_agent::aws_sdk::sdk_config(REGION).await);
    let ours = product_oidc(&emulator).await;
    let retries = |client: &aws_sdk_ssooidc::Client| {
        let retry = client
            .config()
            .retry_config()
            .cloned()
            .expect("a retry config");
        (retry.mode(), retry.max_attempts())
    };
    assert_eq!(retries(&ours), retries(&product));
    assert!(retries(&ours).1 > 1, "{:?}", retries(&ours));
}

async fn open(
    emulator: &sso_agent::emulator::RunningEmulator,
    config: &SsoSessionConfig,
) -> Session {
    Session::open(
        config.clone(),
        secret_service().await,
        product_oidc(emulator).await,
        &emulator.base_url,
    )
    .await
    .unwrap()
}

/// Everything `tracing` writes on this thread while the test runs.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        // Everything, at TRACE, through the binary's own secret filter.
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::Layer;
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(move || writer.clone())
            .with_filter(tracing_subscriber::filter::filter_fn(
                sso_agent::logging::may_log,
            ));
        tracing::subscriber::set_default(tracing_subscriber::registry().with(layer))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).to_string()
    }
}

/// The secrets of a session, for canary checks.
fn secrets_of(session: &Session, store: &Arc<dyn TokenStore>) -> Vec<String> {
    let record = store.load(session.name()).unwrap().unwrap();
    let mut secrets = vec![record
        .registration
        .unwrap()
        .client_secret
        .expose()
        .to_string()];
    let token = record.token.unwrap();
    secrets.push(token.access_token.expose().to_string());
    secrets.extend(token.refresh_token.map(|t| t.expose().to_string()));
    secrets
}

fn assert_no_secret_in(text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret leaked into: {text}"
        );
    }
}

async fn forget(session: &mut Session) {
    session.forget().await.unwrap();
}

#[tokio::test]
async fn a_device_login_spaces_its_polls_and_stores_the_tokens_in_the_keyring() {
    let logs = CapturedLogs::default();
    let _guard = logs.install();
    let emulator = emulator().await;
    scenario(
        &emulator,
        json!({"slow_down_polls": 1, "auto_approve_after_polls": 3}),
    )
    .await;
    let config = session_config("poll");
    let mut session = open(&emulator, &config).await;
    let mut shown = None;
    session
        .login(
            |pending| shown = Some(pending.clone()),
            std::future::pending(),
        )
        .await
        .unwrap();
    let shown = shown.expect("the pending login was shown");
    assert!(shown.verification_uri_complete.contains(&shown.user_code));
    assert!(shown.time_left(SystemTime::now()) > Duration::from_secs(500));

    let calls = calls(&emulator).await;
    let started = calls
        .iter()
        .find(|call| call["operation"] == "StartDeviceAuthorization")
        .unwrap()["at_ms"]
        .as_f64()
        .unwrap();
    let polls: Vec<(f64, String)> = calls
        .iter()
        .filter(|call| call["detail"] == DEVICE_GRANT)
        .map(|call| {
            (
                call["at_ms"].as_f64().unwrap(),
                call["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let outcomes: Vec<&str> = polls.iter().map(|(_, outcome)| outcome.as_str()).collect();
    assert_eq!(
        outcomes,
        ["SlowDownException", "AuthorizationPendingException", "ok"]
    );
    // Interval 1 s before the first poll; after slow_down 6 s, for every later poll. None early,
    // none much late.
    let gaps = [
        polls[0].0 - started,
        polls[1].0 - polls[0].0,
        polls[2].0 - polls[1].0,
    ];
    for (gap, expected) in gaps.iter().zip([1000.0, 6000.0, 6000.0]) {
        assert!(
            *gap >= expected && *gap < expected + 2500.0,
            "gaps {gaps:?}"
        );
    }

    // The item is in the real keyring, and a second reader sees the same tokens.
    let store = secret_service().await;
    let stored = store.load(&config.name).unwrap().unwrap();
    assert_eq!(stored.token.as_ref(), session.token());
    assert!(stored.registration.is_some());
    let secrets = secrets_of(&session, &store);
    assert_no_secret_in(&logs.text(), &secrets);
    forget(&mut session).await;
}

#[tokio::test]
async fn an_expired_code_ends_the_login_with_what_to_do() {
    let emulator = emulator().await;
    let config = session_config("expired");
    let mut session = open(&emulator, &config).await;
    // The service says the code expired (the emulator's clock jumps past its 600 s).
    let base = emulator.base_url.clone();
    let err = session
        .login(
            move |_| {
                let base = base.clone();
                tokio::spawn(async move {
                    reqwest::Client::new()
                        .post(format!("{base}/_emulator/advance"))
                        .json(&json!({"seconds": 700}))
                        .send()
                        .await
                        .unwrap();
                });
            },
            std::future::pending(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, LoginError::CodeExpired { .. }), "{err}");
    assert!(err
        .to_string()
        .contains(&format!("sso-agent login --sso-session {}", config.name)));
    let outcomes: Vec<_> = calls(&emulator)
        .await
        .iter()
        .map(|c| c["outcome"].clone())
        .collect();
    assert!(
        outcomes.contains(&json!("ExpiredTokenException")),
        "{outcomes:?}"
    );

    // The client stops at the code's own lifetime too, without asking.
    scenario(&emulator, json!({"device_code_ttl": 2})).await;
    let before = calls(&emulator).await.len();
    let err = session
        .login(|_| {}, std::future::pending())
        .await
        .unwrap_err();
    assert!(matches!(err, LoginError::CodeExpired { .. }), "{err}");
    let polls = calls(&emulator).await[before..]
        .iter()
        .filter(|call| call["detail"] == DEVICE_GRANT)
        .count();
    assert_eq!(
        polls, 1,
        "one poll at 1 s; the next would be at the 2 s expiry"
    );
    forget(&mut session).await;
}

#[tokio::test]
async fn a_denied_login_says_so() {
    let emulator = emulator().await;
    let config = session_config("denied");
    let mut session = open(&emulator, &config).await;
    let base = emulator.base_url.clone();
    let err = session
        .login(
            move |pending| {
                let (base, user_code) = (base.clone(), pending.user_code.clone());
                tokio::spawn(async move {
                    reqwest::Client::new()
                        .post(format!("{base}/_emulator/deny"))
                        .json(&json!({"user_code": user_code}))
                        .send()
                        .await
                        .unwrap();
                });
            },
            std::future::pending(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, LoginError::Denied { .. }), "{err}");
    assert!(err.to_string().contains("denied in the browser"));
    forget(&mut session).await;
}

#[tokio::test]
async fn a_rejected_registration_is_replaced_once() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let config = session_config("reregister");
    let store = secret_service().await;
    // A registration this emulator never issued (as after a service-side expiry or reset).
    let mut stale = sso_agent::store::SessionRecord::new(START_URL, REGION);
    // Issued (so it says) by this endpoint: a record from another one is never sent here.
    stale.oidc_endpoint = Some(emulator.base_url.clone());
    stale.registration = Some(sso_agent::store::Registration {
        client_id: "unknown-client".into(),
        client_secret: sso_agent::secret::Secret::new("unknown-secret"),
        expires_at: sso_agent::store::time_to_epoch(SystemTime::now() + 24 * HOUR),
        scopes: vec!["sso:account:access".into()],
        grant_types: sso_agent::store::device_code_grants(),
    });
    store.save(&config.name, &stale).unwrap();

    let mut session = Session::open(
        config.clone(),
        store.clone(),
        product_oidc(&emulator).await,
        &emulator.base_url,
    )
    .await
    .unwrap();
    session.login(|_| {}, std::future::pending()).await.unwrap();
    let calls = calls(&emulator).await;
    let of = |operation: &str| -> Vec<String> {
        calls
            .iter()
            .filter(|call| call["operation"] == operation)
            .map(|call| call["outcome"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        of("StartDeviceAuthorization"),
        ["InvalidClientException", "ok"]
    );
    assert_eq!(of("RegisterClient"), ["ok"]);
    let stored = store.load(&config.name).unwrap().unwrap();
    assert_ne!(stored.registration.unwrap().client_id, "unknown-client");
    forget(&mut session).await;
}

#[tokio::test]
async fn server_errors_and_dropped_connections_end_the_login_with_their_message() {
    let emulator = emulator().await;
    let config = session_config("faults");
    let mut session = open(&emulator, &config).await;
    scenario(
        &emulator,
        // The product's SDK clients try a call 3 times: each login meets 3 faults.
        json!({"faults": [{"operation": "StartDeviceAuthorization", "status": 500, "count": 3},
                          {"operation": "StartDeviceAuthorization", "reset": true, "count": 3}]}),
    )
    .await;
    let err = session
        .login(|_| {}, std::future::pending())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LoginError::Refused { code, .. } if code == "InternalServerException"),
        "{err}"
    );
    assert!(
        err.to_string().contains("internal error; try again"),
        "{err}"
    );
    let err = session
        .login(|_| {}, std::future::pending())
        .await
        .unwrap_err();
    assert!(matches!(err, LoginError::Unreachable { .. }), "{err}");
    assert!(
        err.to_string().contains("connection failed or was reset"),
        "{err}"
    );
    let attempts = calls(&emulator)
        .await
        .iter()
        .filter(|call| call["operation"] == "StartDeviceAuthorization")
        .count();
    assert_eq!(attempts, 6, "each login tried its call 3 times");
    forget(&mut session).await;
}

#[tokio::test]
async fn a_login_can_be_cancelled() {
    let emulator = emulator().await;
    let config = session_config("cancel");
    let mut session = open(&emulator, &config).await;
    let err = session
        .login(|_| {}, tokio::time::sleep(Duration::from_millis(1500)))
        .await
        .unwrap_err();
    assert!(matches!(err, LoginError::Cancelled { .. }), "{err}");
    forget(&mut session).await;
}

#[tokio::test]
async fn refresh_runs_once_near_expiry_stores_the_rotated_token_and_survives_a_restart() {
    let logs = CapturedLogs::default();
    let _guard = logs.install();
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let config = session_config("refresh");
    let mut session = open(&emulator, &config).await;
    session.login(|_| {}, std::future::pending()).await.unwrap();
    let first = session.token().unwrap().clone();

    let now = SystemTime::now();
    assert!(matches!(
        session.refresh_if_due(now).await.unwrap(),
        RefreshOutcome::NotDue(_)
    ));
    let near_expiry = now + 8 * HOUR - Duration::from_secs(10 * 60);
    assert_eq!(
        session.refresh_if_due(near_expiry).await.unwrap(),
        RefreshOutcome::Refreshed
    );
    assert!(matches!(
        session.refresh_if_due(SystemTime::now()).await.unwrap(),
        RefreshOutcome::NotDue(_)
    ));
    let refreshes = calls(&emulator)
        .await
        .iter()
        .filter(|call| call["detail"] == "refresh_token")
        .count();
    assert_eq!(refreshes, 1);
    let renewed = session.token().unwrap().clone();
    assert_ne!(renewed.access_token, first.access_token);
    assert_ne!(
        renewed.refresh_token, first.refresh_token,
        "the rotated token replaced the old"
    );

    // A restart: a new store connection and a new session read the same tokens, and they work.
    let store = secret_service().await;
    assert_eq!(
        store.load(&config.name).unwrap().unwrap().token,
        Some(renewed.clone())
    );
    let mut restarted = Session::open(
        config.clone(),
        store.clone(),
        product_oidc(&emulator).await,
        &emulator.base_url,
    )
    .await
    .unwrap();
    assert_eq!(restarted.token(), Some(&renewed));
    assert!(restarted.is_logged_in(SystemTime::now()));
    portal(&emulator)
        .await
        .list_accounts()
        .access_token(renewed.access_token.expose())
        .send()
        .await
        .expect("the restored token works");
    assert_eq!(
        calls(&emulator)
            .await
            .iter()
            .filter(|c| c["operation"] == "StartDeviceAuthorization")
            .count(),
        1,
        "no new login"
    );
    let mut secrets = secrets_of(&restarted, &store);
    secrets.push(first.access_token.expose().to_string());
    assert_no_secret_in(&logs.text(), &secrets);
    forget(&mut restarted).await;
}

#[tokio::test]
async fn without_rotation_the_old_refresh_token_is_kept() {
    let emulator = emulator().await;
    scenario(
        &emulator,
        json!({"auto_approve_after_polls": 1, "rotate_refresh_tokens": false}),
    )
    .await;
    let config = session_config("keep");
    let mut session = open(&emulator, &config).await;
    session.login(|_| {}, std::future::pending()).await.unwrap();
    let first = session.token().unwrap().clone();
    let due = SystemTime::now() + 8 * HOUR;
    assert_eq!(
        session.refresh_if_due(due).await.unwrap(),
        RefreshOutcome::Refreshed
    );
    assert_eq!(session.token().unwrap().refresh_token, first.refresh_token);
    assert_ne!(session.token().unwrap().access_token, first.access_token);
    forget(&mut session).await;
}

#[tokio::test]
async fn a_rejected_refresh_token_means_a_new_login_not_a_crash() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let config = session_config("rejected");
    let mut session = open(&emulator, &config).await;
    session.login(|_| {}, std::future::pending()).await.unwrap();
    // Logging out upstream revokes the refresh token too.
    portal(&emulator)
        .await
        .logout()
        .access_token(session.token().unwrap().access_token.expose())
        .send()
        .await
        .unwrap();
    let due = SystemTime::now() + 8 * HOUR;
    assert_eq!(
        session.refresh_if_due(due).await.unwrap(),
        RefreshOutcome::NeedsLogin
    );
    assert!(session.token().is_none());
    let stored = secret_service().await.load(&config.name).unwrap().unwrap();
    assert!(
        stored.token.is_none(),
        "the dead token is gone from the keyring"
    );
    assert!(
        stored.registration.is_some(),
        "the registration is kept for the next login"
    );
    forget(&mut session).await;
}

#[tokio::test]
async fn a_failed_refresh_backs_off_instead_of_retrying_at_once() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let config = session_config("backoff");
    let mut session = open(&emulator, &config).await;
    session.login(|_| {}, std::future::pending()).await.unwrap();
    scenario(
        &emulator,
        json!({"faults": [{"operation": "CreateToken", "status": 500, "count": 3}]}),
    )
    .await;
    // Woken long after the expiry (a suspended laptop): one attempt, then a 30 s wait.
    let woke = SystemTime::now() + 11 * HOUR;
    assert_eq!(
        session.refresh_if_due(woke).await.unwrap(),
        RefreshOutcome::RetryLater(Duration::from_secs(30))
    );
    for seconds in [0, 1, 29] {
        let outcome = session
            .refresh_if_due(woke + Duration::from_secs(seconds))
            .await
            .unwrap();
        assert!(
            matches!(outcome, RefreshOutcome::NotDue(_)),
            "{seconds}: {outcome:?}"
        );
    }
    assert_eq!(
        session
            .refresh_if_due(woke + Duration::from_secs(30))
            .await
            .unwrap(),
        RefreshOutcome::Refreshed
    );
    // After the login's own CreateToken: the failed refresh, its SDK retries (3 attempts in all;
    // a fault has no grant detail), and the one 30 s later.
    let refreshes: Vec<_> = calls(&emulator)
        .await
        .iter()
        .filter(|call| call["operation"] == "CreateToken")
        .skip(1)
        .map(|call| call["outcome"].clone())
        .collect();
    let failed = json!("InternalServerException");
    assert_eq!(
        refreshes,
        [failed.clone(), failed.clone(), failed, json!("ok")]
    );
    forget(&mut session).await;
}
