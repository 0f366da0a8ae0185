//! Routing, the call log and injected faults, and the accept loop.
//!
//! The accept loop is hand-made rather than `axum::serve` for one reason: a "connection reset"
//! fault must reach the TCP socket of the request that triggers it (SO_LINGER 0, then close).

use super::scenario::Fault;
use super::state::{CallDetail, Emulator, LogEntry};
use super::wire::{
    generic_error, LicenseError, LicenseErrorKind, OidcError, OidcErrorKind, PortalError,
    PortalErrorKind,
};
use super::{control, federation, license_manager, oidc, pages, portal, sts};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tower::ServiceExt;

pub fn router(emulator: Arc<Emulator>) -> Router {
    Router::new()
        // License Manager (awsJson1.1, by X-Amz-Target) and STS (query protocol) share `POST /`.
        .route("/", post(aws_json_or_query))
        .route("/client/register", post(oidc::register_client))
        .route(
            "/device_authorization",
            post(oidc::start_device_authorization),
        )
        .route("/token", post(oidc::create_token))
        .route("/federation/credentials", get(portal::get_role_credentials))
        // The sign-in federation endpoint (signin.aws.amazon.com/federation) and where its login
        // lands; `/federation/credentials` above is the sso portal's, a different service.
        .route("/federation", get(federation::federation))
        .route("/console", get(federation::console_page))
        .route("/assignment/accounts", get(portal::list_accounts))
        .route("/assignment/roles", get(portal::list_account_roles))
        .route("/logout", post(portal::logout))
        .route(
            "/device",
            get(pages::device_page).post(pages::device_decision),
        )
        .route(
            "/authorize",
            get(pages::authorize_page).post(pages::authorize_decision),
        )
        .route("/_emulator/approve", post(control::approve))
        .route("/_emulator/deny", post(control::deny))
        .route(
            "/_emulator/scenario",
            get(control::get_scenario).put(control::put_scenario),
        )
        .route("/_emulator/log", get(control::log))
        .route("/_emulator/advance", post(control::advance_clock))
        .fallback(unknown_operation)
        .method_not_allowed_fallback(unknown_operation)
        .layer(middleware::from_fn_with_state(emulator.clone(), aws_call))
        .with_state(emulator)
}

/// `POST /`: License Manager when `X-Amz-Target` names it, else STS's form-encoded query.
async fn aws_json_or_query(
    state: State<Arc<Emulator>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if headers.contains_key("x-amz-target") {
        license_manager::handle(state, headers, body).await
    } else {
        sts::handle(state, body).await
    }
}

async fn unknown_operation() -> Response {
    super::wire::message_error(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        "no such operation here: the emulator serves the sso-oidc and sso APIs, License Manager and STS at POST /, /federation, /device, /authorize, /console and /_emulator/{approve,deny,scenario,log,advance}",
    )
}

/// The largest `POST /` body read to find an STS `Action` (STS's own limits are far below it).
const QUERY_BODY_LIMIT: usize = 64 * 1024;

/// The AWS operation a request calls, by its method and path (for the federation endpoint its
/// `Action`; for `POST /`, License Manager's `X-Amz-Target` or STS's form `Action`). A `POST /`
/// body is read here and put back, since the query protocol names the operation in it.
async fn operation_of_request(request: Request) -> (Option<&'static str>, Request) {
    if request.method() != Method::POST || request.uri().path() != "/" {
        let operation = operation_of(request.method(), request.uri());
        return (operation, request);
    }
    if let Some(target) = request.headers().get("x-amz-target") {
        let operation = target.to_str().ok().and_then(license_manager::operation);
        return (operation, request);
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, QUERY_BODY_LIMIT)
        .await
        .unwrap_or_default();
    let action = url::form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == "Action")
        .map(|(_, value)| value.into_owned());
    let operation = (action.as_deref() == Some(sts::ASSUME_ROLE_WITH_WEB_IDENTITY))
        .then_some(sts::ASSUME_ROLE_WITH_WEB_IDENTITY);
    (operation, Request::from_parts(parts, Body::from(bytes)))
}

fn operation_of(method: &Method, uri: &axum::http::Uri) -> Option<&'static str> {
    Some(match (method.as_str(), uri.path()) {
        ("GET", "/federation") => federation_action(uri.query().unwrap_or_default()),
        ("POST", "/client/register") => "RegisterClient",
        ("POST", "/device_authorization") => "StartDeviceAuthorization",
        ("POST", "/token") => "CreateToken",
        ("GET", "/federation/credentials") => "GetRoleCredentials",
        ("GET", "/assignment/accounts") => "ListAccounts",
        ("GET", "/assignment/roles") => "ListAccountRoles",
        ("POST", "/logout") => "Logout",
        _ => return None,
    })
}

/// `GetSigninToken`, `FederationLogin`, or `Federation` for any other (refused) Action.
fn federation_action(query: &str) -> &'static str {
    let action = url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "Action")
        .map(|(_, value)| value);
    match action.as_deref() {
        Some("getSigninToken") => "GetSigninToken",
        Some("login") => "FederationLogin",
        _ => "Federation",
    }
}

fn is_oidc(operation: &str) -> bool {
    matches!(
        operation,
        "RegisterClient" | "StartDeviceAuthorization" | "CreateToken"
    )
}

/// Applies the scenario's next fault for an AWS call, and writes the call to the log.
async fn aws_call(State(emulator): State<Arc<Emulator>>, request: Request, next: Next) -> Response {
    let (operation, request) = operation_of_request(request).await;
    let Some(operation) = operation else {
        return next.run(request).await;
    };
    let fault = emulator.lock().scenario.take_fault(operation);
    let mut unanswered = UnansweredCall {
        emulator: &emulator,
        operation,
        answered: false,
    };
    let response = match fault {
        None => next.run(request).await,
        Some(fault) => {
            tokio::time::sleep(Duration::from_millis(fault.delay_ms)).await;
            let kill = request.extensions().get::<KillSwitch>().cloned();
            // With `after_call` the call takes effect first; the fault then replaces its answer.
            let (unsent, answered) = if fault.after_call {
                (None, Some(next.clone().run(request).await))
            } else {
                (Some(request), None)
            };
            if fault.reset {
                unanswered.answered = true;
                record(&emulator, operation, 0, "reset", String::new());
                if let Some(kill) = kill {
                    kill.0.notify_one();
                }
                // The connection task drops this request with the connection.
                return std::future::pending().await;
            }
            match (faulty_response(operation, &fault), unsent, answered) {
                (Some(response), _, _) => response,
                (None, _, Some(response)) => response,
                (None, Some(request), None) => next.run(request).await,
                (None, None, None) => unreachable!("a call is either sent or answered"),
            }
        }
    };
    let outcome = response
        .extensions()
        .get::<sts::ErrorCode>()
        .map(|code| code.0.as_str())
        .or_else(|| {
            response
                .headers()
                .get("x-amzn-errortype")
                .and_then(|value| value.to_str().ok())
        })
        .map(|name| name.split(':').next().unwrap_or(name).to_string())
        .unwrap_or_else(|| {
            if response.status().is_success() {
                "ok"
            } else {
                "error"
            }
            .to_string()
        });
    let outcome = if fault_was_garbage(&response) {
        "garbage".to_string()
    } else {
        outcome
    };
    let detail = response
        .extensions()
        .get::<CallDetail>()
        .map(|detail| detail.0.clone())
        .unwrap_or_default();
    record(
        &emulator,
        operation,
        response.status().as_u16(),
        &outcome,
        detail,
    );
    unanswered.answered = true;
    response
}

/// Logs a call whose client hung up before the answer (a timeout, say) as `abandoned`.
struct UnansweredCall<'a> {
    emulator: &'a Emulator,
    operation: &'static str,
    answered: bool,
}

impl Drop for UnansweredCall<'_> {
    fn drop(&mut self) {
        if !self.answered {
            record(self.emulator, self.operation, 0, "abandoned", String::new());
        }
    }
}

fn record(emulator: &Emulator, operation: &str, status: u16, outcome: &str, detail: String) {
    let entry = LogEntry {
        at_ms: emulator.elapsed_ms(),
        operation: operation.to_string(),
        status,
        outcome: outcome.to_string(),
        detail,
    };
    emulator.lock().log.push(entry);
}

/// Marks a garbage answer so the log can say so.
#[derive(Clone, Copy)]
struct GarbageBody;

fn fault_was_garbage(response: &Response) -> bool {
    response.extensions().get::<GarbageBody>().is_some()
}

/// The answer a fault gives instead of the real one (None: a delay only, then the real one).
fn faulty_response(operation: &str, fault: &Fault) -> Option<Response> {
    if fault.garbage {
        let mut response = (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            Body::from("\u{0}{\"accessToken\": <<garbage"),
        )
            .into_response();
        response.extensions_mut().insert(GarbageBody);
        return Some(response);
    }
    let status = fault
        .status
        .and_then(|status| StatusCode::from_u16(status).ok())?;
    let name = fault.error.as_deref();
    let mut response = if operation.starts_with(license_manager::TARGET_PREFIX) {
        let kind = match name {
            Some(name) => LicenseErrorKind::from_exception_name(name),
            None => match status.as_u16() {
                400 => Some(LicenseErrorKind::Validation),
                500 => Some(LicenseErrorKind::ServerInternal),
                _ => None,
            },
        };
        kind.map(|kind| LicenseError::new(kind, INJECTED).into_response())
    } else if operation == sts::ASSUME_ROLE_WITH_WEB_IDENTITY {
        let kind = match name {
            Some(name) => sts::StsErrorKind::from_code(name),
            // The one STS error no request of the client's can cause.
            None => (status == StatusCode::BAD_REQUEST)
                .then_some(sts::StsErrorKind::IdpCommunicationError),
        };
        Some(match kind {
            Some(kind) => sts::modeled_error(kind, INJECTED),
            None => sts::error(
                status,
                name.unwrap_or_else(|| generic_name(status)),
                INJECTED,
            ),
        })
    } else if is_oidc(operation) {
        let kind = match name {
            Some(name) => OidcErrorKind::from_exception_name(name),
            None => match status.as_u16() {
                400 => Some(OidcErrorKind::InvalidRequest),
                401 => Some(OidcErrorKind::InvalidClient),
                500 => Some(OidcErrorKind::InternalServer),
                _ => None,
            },
        };
        kind.map(|kind| OidcError::new(kind, INJECTED).into_response())
    } else {
        let kind = match name {
            Some(name) => PortalErrorKind::from_exception_name(name),
            None => PortalErrorKind::ALL
                .into_iter()
                .find(|kind| kind.status() == status),
        };
        kind.map(|kind| PortalError::new(kind, INJECTED).into_response())
    }
    .unwrap_or_else(|| generic_error(status, name.unwrap_or_else(|| generic_name(status))));
    *response.status_mut() = status;
    Some(response)
}

const INJECTED: &str = "injected by the emulator scenario";

fn generic_name(status: StatusCode) -> &'static str {
    match status.as_u16() {
        429 => "ThrottlingException",
        503 => "ServiceUnavailableException",
        _ => "InternalFailure",
    }
}

/// Lets a request's handler end its own TCP connection with a reset.
#[derive(Clone, Default)]
struct KillSwitch(Arc<Notify>);

/// Accepts connections until `shutdown` completes; each connection is a task.
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()>) {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    tracing::warn!("emulator: accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        tokio::spawn(serve_connection(stream, router.clone()));
    }
}

async fn serve_connection(stream: TcpStream, router: Router) {
    // A second handle on the socket, to set SO_LINGER on it after hyper owns the stream.
    let Ok(std_stream) = stream.into_std() else {
        return;
    };
    let Ok(second_handle) = std_stream.try_clone() else {
        return;
    };
    let Ok(stream) = TcpStream::from_std(std_stream) else {
        return;
    };
    let kill = KillSwitch::default();
    let service = {
        let kill = kill.clone();
        router.map_request(move |mut request: Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(kill.clone());
            request
        })
    };
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let connection =
        builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    tokio::select! {
        _ = connection => {}
        () = kill.0.notified() => {
            // Closing with a zero linger sends RST instead of FIN.
            if let Err(err) = socket2::SockRef::from(&second_handle).set_linger(Some(Duration::ZERO)) {
                tracing::warn!("emulator: cannot reset the connection: {err}");
            }
        }
    }
}
