//! The pages a person sees: the device verification page (`verificationUriComplete`) and the
//! PKCE authorize page. Both have working Approve / Deny buttons.

use super::oidc::{decide_user_code, new_authorization_code, redirect_uri_registered};
use super::state::{AuthorizationRequest, Decision, Emulator};
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f2f3f3;margin:0}
main{max-width:28rem;margin:2rem auto;background:#fff;padding:2rem;border-radius:8px;
box-shadow:0 1px 4px #0002}h1{font-size:1.3rem;margin-top:0}.code{font:600 2rem monospace;
letter-spacing:.2rem;text-align:center;padding:1rem;background:#f8f8f8;border-radius:6px}
button{font-size:1rem;padding:.6rem 1.4rem;border-radius:4px;border:1px solid #888;margin-right:.5rem;
cursor:pointer}#approve{background:#ff9900;border-color:#e88b00}.note{color:#555;font-size:.9rem}";

/// The whole page around `body`.
pub(super) fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>{STYLE}</style></head><body><main><h1>{title}</h1>{body}\
         <p class=\"note\">sso-agent IAM Identity Center emulator</p></main></body></html>",
        title = escape(title)
    ))
}

pub(super) fn message(status: StatusCode, title: &str, text: &str) -> Response {
    (
        status,
        page(title, &format!("<p id=\"result\">{}</p>", escape(text))),
    )
        .into_response()
}

/// HTML-escapes text. Five replacements do not warrant a dependency.
pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

// ---------------------------------------------------------------------------------------------
// Device verification

#[derive(Deserialize)]
pub struct DeviceQuery {
    user_code: Option<String>,
}

pub async fn device_page(
    State(emulator): State<Arc<Emulator>>,
    Query(query): Query<DeviceQuery>,
) -> Response {
    let Some(user_code) = query.user_code.filter(|code| !code.is_empty()) else {
        let form = "<form method=\"get\" action=\"/device\"><p>Enter the code shown by your \
                    application:</p><p><input name=\"user_code\" id=\"user_code\" autofocus> \
                    <button type=\"submit\" id=\"next\">Next</button></p></form>";
        return page("Authorize request", form).into_response();
    };
    let user_code = user_code.trim().to_uppercase();
    let inner = emulator.lock();
    let grant = inner
        .user_codes
        .get(&user_code)
        .and_then(|device_code| inner.device_grants.get(device_code));
    let Some(grant) = grant else {
        return message(
            StatusCode::NOT_FOUND,
            "Code not found",
            "This code is not valid. Check it and try again.",
        );
    };
    if inner.now() >= grant.expires_at {
        return message(
            StatusCode::GONE,
            "Code expired",
            "This code has expired. Start the login again.",
        );
    }
    if grant.decision != Decision::Pending {
        return message(
            StatusCode::CONFLICT,
            "Already answered",
            "This request has already been approved or denied.",
        );
    }
    let client_name = inner
        .clients
        .get(&grant.client_id)
        .map(|client| client.client_name.as_str())
        .unwrap_or("an application");
    let body = format!(
        "<p>Allow <b id=\"client\">{client}</b> to access your data?</p>\
         <p class=\"code\" id=\"user-code\">{code}</p>\
         <p>Check that this code matches the one your application shows.</p>\
         <form method=\"post\" action=\"/device\"><input type=\"hidden\" name=\"user_code\" value=\"{code}\">\
         <button type=\"submit\" name=\"action\" value=\"approve\" id=\"approve\">Approve</button>\
         <button type=\"submit\" name=\"action\" value=\"deny\" id=\"deny\">Deny</button></form>",
        client = escape(client_name),
        code = escape(&user_code),
    );
    page("Authorize request", &body).into_response()
}

#[derive(Deserialize)]
pub struct DecisionForm {
    user_code: String,
    action: String,
}

pub async fn device_decision(
    State(emulator): State<Arc<Emulator>>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let (decision, title, text) = match form.action.as_str() {
        "approve" => (
            Decision::Approved {
                user: emulator.fixture.default_user(),
            },
            "Request approved",
            "You can close this window and return to your application.",
        ),
        "deny" => (
            Decision::Denied,
            "Request denied",
            "The application will not get access. You can close this window.",
        ),
        _ => return message(StatusCode::BAD_REQUEST, "Bad request", "Unknown action."),
    };
    let user_code = form.user_code.trim().to_uppercase();
    match decide_user_code(&mut emulator.lock(), &user_code, decision) {
        Ok(()) => message(StatusCode::OK, title, text),
        Err(err) => message(
            StatusCode::CONFLICT,
            "Cannot answer this request",
            &err.to_string(),
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// PKCE authorize

pub async fn authorize_page(
    State(emulator): State<Arc<Emulator>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let get = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
    let mut inner = emulator.lock();
    // Without a known client and a registered redirect URI there is nowhere safe to send an
    // error (RFC 6749 §4.1.2.1): show it on the page instead.
    let Some(client) = inner.clients.get(get("client_id")) else {
        return message(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "Unknown client_id.",
        );
    };
    let redirect_uri = get("redirect_uri");
    if !redirect_uri_registered(client, redirect_uri) {
        return message(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "redirect_uri is not registered for this client.",
        );
    }
    let state = params.get("state").cloned();
    let fail = |error: &str| redirect_with(redirect_uri, &[("error", error)], state.as_deref());
    if get("response_type") != "code" {
        return fail("unsupported_response_type");
    }
    if get("code_challenge_method") != "S256" || get("code_challenge").is_empty() {
        return fail("invalid_request");
    }
    if !client.allows_grant(super::state::GRANT_AUTHORIZATION_CODE) {
        return fail("unauthorized_client");
    }
    let scopes: Vec<String> = get("scopes")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if scopes.iter().any(|scope| !client.scopes.contains(scope)) {
        return fail("invalid_scope");
    }
    let client_name = client.client_name.clone();
    let request = AuthorizationRequest {
        client_id: get("client_id").to_string(),
        redirect_uri: redirect_uri.to_string(),
        state,
        code_challenge: get("code_challenge").to_string(),
        scopes,
    };
    if inner.scenario.auto_approve_after_polls.is_some() {
        let code = new_authorization_code(&mut inner, &request, emulator.fixture.default_user());
        return redirect_with(
            &request.redirect_uri,
            &[("code", &code)],
            request.state.as_deref(),
        );
    }
    let request_id = super::state::random_token("emu-request-", 24);
    inner
        .authorization_requests
        .insert(request_id.clone(), request);
    let body = format!(
        "<p>Allow <b id=\"client\">{client}</b> to access your data?</p>\
         <form method=\"post\" action=\"/authorize\"><input type=\"hidden\" name=\"request_id\" value=\"{request_id}\">\
         <button type=\"submit\" name=\"action\" value=\"approve\" id=\"approve\">Approve</button>\
         <button type=\"submit\" name=\"action\" value=\"deny\" id=\"deny\">Deny</button></form>",
        client = escape(&client_name),
    );
    page("Authorize request", &body).into_response()
}

#[derive(Deserialize)]
pub struct AuthorizeForm {
    request_id: String,
    action: String,
}

pub async fn authorize_decision(
    State(emulator): State<Arc<Emulator>>,
    Form(form): Form<AuthorizeForm>,
) -> Response {
    let mut inner = emulator.lock();
    let Some(request) = inner.authorization_requests.remove(&form.request_id) else {
        return message(
            StatusCode::CONFLICT,
            "Cannot answer this request",
            "This request is unknown or has already been answered.",
        );
    };
    let state = request.state.as_deref();
    match form.action.as_str() {
        "approve" => {
            let code =
                new_authorization_code(&mut inner, &request, emulator.fixture.default_user());
            redirect_with(&request.redirect_uri, &[("code", &code)], state)
        }
        _ => redirect_with(&request.redirect_uri, &[("error", "access_denied")], state),
    }
}

/// A 302 to the client's redirect URI with `pairs` and `state` added to its query.
fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)], state: Option<&str>) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return message(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "Bad redirect_uri.",
        );
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
    }
    Redirect::to(url.as_str()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(
            escape("<b a=\"1\">'&'</b>"),
            "&lt;b a=&quot;1&quot;&gt;&#39;&amp;&#39;&lt;/b&gt;"
        );
    }
}
