//! Crash points for the reliability tests: `SSO_AGENT_FAILPOINT=<name>` makes the process abort
//! when it reaches the point of that name, as a SIGKILL would stop it there. Unset, a failpoint is
//! one environment lookup on a path that runs a few times an hour (a refresh).

/// Aborts the process if `SSO_AGENT_FAILPOINT` names this point.
pub fn hit(name: &str) {
    if std::env::var("SSO_AGENT_FAILPOINT").as_deref() == Ok(name) {
        eprintln!("sso-agent: failpoint {name}: aborting");
        std::process::abort();
    }
}
