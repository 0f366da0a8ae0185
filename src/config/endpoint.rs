//! Which endpoint a service's calls went to, when something other than `sso_region` chose it —
//! for messages: "check `sso_region`" sends the reader to the wrong place when a variable or a
//! `services` section set the endpoint.

use aws_config::profile::ProfileSet;
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_runtime::env_config::property::PropertiesKey;
use aws_types::os_shim_internal::{Env, Fs};

/// A service as the SDK names it in variables (`AWS_ENDPOINT_URL_SSO_OIDC`) and in a `services`
/// section (`sso-oidc = …`).
#[derive(Debug, Clone, Copy)]
pub struct Service {
    pub env_suffix: &'static str,
    pub profile_key: &'static str,
}

pub const SSO_OIDC: Service = Service {
    env_suffix: "SSO_OIDC",
    profile_key: "sso-oidc",
};
pub const SSO_PORTAL: Service = Service {
    env_suffix: "SSO",
    profile_key: "sso",
};

/// The endpoint URL set for `service`, and where, in the SDK's order (aws-runtime
/// `env_config::EnvConfigValue::load`): `AWS_ENDPOINT_URL_<SERVICE>`, `AWS_ENDPOINT_URL`, the active
/// profile's `services` section, its `endpoint_url`. None when nothing is set or
/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` (the variable or the profile key).
pub fn configured_endpoint(
    service: Service,
    env: &Env,
    sections: Option<&ProfileSet>,
) -> Option<(String, String)> {
    if ignores_configured_endpoints(env, sections) {
        return None;
    }
    let variable = |name: &str| non_empty(env.get(name).ok().as_deref());
    let profile = |key: &str| sections.and_then(|s| non_empty(s.get(key)));
    let service_variable = format!("AWS_ENDPOINT_URL_{}", service.env_suffix);
    if let Some(url) = variable(&service_variable) {
        return Some((url, service_variable));
    }
    if let Some(url) = variable("AWS_ENDPOINT_URL") {
        return Some((url, "AWS_ENDPOINT_URL".into()));
    }
    let sections = sections?;
    let profile_title = match sections.selected_profile() {
        "default" => "[default]".to_string(),
        name => format!("[profile {name}]"),
    };
    if let Some(services) = profile("services") {
        let key = PropertiesKey::builder()
            .section_key("services")
            .section_name(&services)
            .property_name(service.profile_key)
            .sub_property_name("endpoint_url")
            .build()
            .ok()?;
        if let Some(url) = non_empty(sections.other_sections().get(&key).map(|v| v.as_ref())) {
            return Some((
                url,
                format!("[services {services}] `{}`", service.profile_key),
            ));
        }
    }
    profile("endpoint_url").map(|url| (url, format!("`endpoint_url` in {profile_title}")))
}

fn non_empty(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from)
}

/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`, or the active profile's
/// `ignore_configured_endpoint_urls = true`: the SDK calls AWS's own endpoints.
fn ignores_configured_endpoints(env: &Env, sections: Option<&ProfileSet>) -> bool {
    non_empty(
        env.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .ok()
            .as_deref(),
    )
    .or_else(|| sections.and_then(|s| non_empty(s.get("ignore_configured_endpoint_urls"))))
    .is_some_and(|value| value.eq_ignore_ascii_case("true"))
}

/// What an "unreachable" message tells the reader to check, from this process's environment and
/// config file (the agent's SDK clients read the same).
pub fn reachability_advice(service: Service) -> String {
    let env = Env::real();
    let file = super::config_file_path(&env);
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    advice_from(service, &env, &file, text)
}

fn advice_from(service: Service, env: &Env, file: &str, text: String) -> String {
    let sections = parse_now(env, text);
    match configured_endpoint(service, env, sections.as_ref()) {
        Some((url, source)) if source.starts_with("AWS_") => {
            format!("check that {url} (set by {source}) is running and reachable")
        }
        Some((url, source)) => {
            format!("check that {url} (set by {source} in {file}) is running and reachable")
        }
        // The agent reads the variables of the environment it started in, not the caller's: a
        // variable set in a shell since then is not in it, and this says which one it lacks.
        None if ignores_configured_endpoints(env, sections.as_ref()) => {
            "check the network connection and `sso_region` (AWS_IGNORE_CONFIGURED_ENDPOINT_URLS \
             or ignore_configured_endpoint_urls makes the agent call AWS's own endpoint)"
                .to_string()
        }
        None => format!(
            "check the network connection and `sso_region` (no AWS_ENDPOINT_URL_{} in the \
             agent's environment, the one it started with)",
            service.env_suffix
        ),
    }
}

/// aws-config's parse of text in memory: its future never waits (no file is read), so it is
/// polled once here, where the message is built, outside any async context.
fn parse_now(env: &Env, text: String) -> Option<ProfileSet> {
    use std::future::Future;
    let files = EnvConfigFiles::builder()
        .include_default_config_file(false)
        .include_default_credentials_file(false)
        .with_contents(EnvConfigFileKind::Config, text)
        .build();
    let fs = Fs::from_slice(&[]);
    let future = aws_config::profile::load(&fs, env, &files, None);
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(Ok(sections)) => Some(sections),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sections(env: &Env, text: &str) -> Option<ProfileSet> {
        parse_now(env, text.to_string())
    }

    const FILE: &str = "\
[default]
services = local

[profile other]
endpoint_url = http://127.0.0.1:4566

[services local]
sso-oidc =
  endpoint_url = http://127.0.0.1:9000
";

    #[test]
    fn the_advice_names_the_endpoint_or_says_the_agent_uses_aws_own() {
        let advice = |vars: &[(&str, &str)], text: &str| {
            advice_from(
                SSO_OIDC,
                &Env::from_slice(vars),
                "/home/me/.aws/config",
                text.into(),
            )
        };
        let set = [("AWS_ENDPOINT_URL_SSO_OIDC", "http://127.0.0.1:9000")];
        assert_eq!(
            advice(&set, ""),
            "check that http://127.0.0.1:9000 (set by AWS_ENDPOINT_URL_SSO_OIDC) is running and reachable"
        );
        assert!(advice(&[], FILE)
            .contains("(set by [services local] `sso-oidc` in /home/me/.aws/config)"));
        let default = advice(&[], "");
        assert!(
            default.contains("no AWS_ENDPOINT_URL_SSO_OIDC in the agent's environment"),
            "{default}"
        );
        let ignored = advice(&[("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")], FILE);
        assert!(
            ignored.contains("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") && !ignored.contains("9000"),
            "{ignored}"
        );
    }

    #[test]
    fn the_variables_come_first_then_the_services_section_then_endpoint_url() {
        let named = |vars: &[(&str, &str)], service| {
            let env = Env::from_slice(vars);
            configured_endpoint(service, &env, sections(&env, FILE).as_ref())
        };
        assert_eq!(
            named(&[("AWS_ENDPOINT_URL_SSO_OIDC", "http://a")], SSO_OIDC),
            Some(("http://a".into(), "AWS_ENDPOINT_URL_SSO_OIDC".into()))
        );
        assert_eq!(
            named(&[("AWS_ENDPOINT_URL", "http://b")], SSO_OIDC),
            Some(("http://b".into(), "AWS_ENDPOINT_URL".into()))
        );
        assert_eq!(
            named(&[], SSO_OIDC),
            Some((
                "http://127.0.0.1:9000".into(),
                "[services local] `sso-oidc`".into()
            ))
        );
        assert_eq!(named(&[], SSO_PORTAL), None);
        assert_eq!(
            named(&[("AWS_PROFILE", "other")], SSO_PORTAL),
            Some((
                "http://127.0.0.1:4566".into(),
                "`endpoint_url` in [profile other]".into()
            ))
        );
        assert_eq!(
            named(
                &[
                    ("AWS_ENDPOINT_URL_SSO_OIDC", "http://a"),
                    ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
                ],
                SSO_OIDC
            ),
            None
        );
    }

    #[test]
    fn nothing_set_means_the_region_decides() {
        let env = Env::from_slice(&[]);
        assert_eq!(configured_endpoint(SSO_OIDC, &env, None), None);
        assert_eq!(
            configured_endpoint(
                SSO_OIDC,
                &env,
                sections(&env, "[default]\nregion = x\n").as_ref()
            ),
            None
        );
    }
}
