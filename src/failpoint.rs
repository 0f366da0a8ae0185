//! Crash points for the reliability tests: `SSO_AGENT_FAILPOINT=<name>` makes the process abort
//! when it reaches the point of that name, as a SIGKILL would stop it there. Unset, a failpoint is
//! one environment lookup on a path that runs a few times an hour (a refresh).
//!
//! Debug builds only (the tests' builds): in a release build `hit` and `panic_once` are empty
//! `const fn`s, so no variable in a user's environment can make the installed agent abort.

/// Whether failpoints are compiled in.
pub const ACTIVE: bool = cfg!(debug_assertions);

/// Aborts the process if `SSO_AGENT_FAILPOINT` names this point.
#[cfg(debug_assertions)]
pub fn hit(name: &str) {
    if std::env::var("SSO_AGENT_FAILPOINT").as_deref() == Ok(name) {
        eprintln!("sso-agent: failpoint {name}: aborting");
        std::process::abort();
    }
}

/// Panics the first time this point is reached if `SSO_AGENT_FAILPOINT` is `panic-once:<name>`:
/// a bug in a task, which the agent must survive.
#[cfg(debug_assertions)]
pub fn panic_once(name: &str) {
    static FIRED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let wanted = std::env::var("SSO_AGENT_FAILPOINT");
    if wanted
        .as_deref()
        .ok()
        .and_then(|v| v.strip_prefix("panic-once:"))
        == Some(name)
        && !FIRED.swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        panic!("failpoint {name}: panicking");
    }
}

/// A release build has no failpoints.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub const fn hit(_name: &str) {}

/// A release build has no failpoints.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub const fn panic_once(_name: &str) {}

#[cfg(test)]
mod tests {
    /// Runs in a release build as `cargo test --release --lib failpoint` (the const calls only
    /// compile when the points are the empty `const fn`s).
    #[cfg(not(debug_assertions))]
    #[test]
    fn a_release_build_has_no_failpoints() {
        const _: () = super::hit("anything");
        const _: () = super::panic_once("anything");
        assert!(!super::ACTIVE);
    }
}
