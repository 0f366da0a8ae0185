//! Process hardening at agent start: no core dumps and no ptrace by other processes of the same
//! user, so tokens in memory do not end up on disk or in a debugger. Each step that fails is a
//! warning, not an exit: a less hardened agent is better than none.

/// Applies what the platform offers; returns one warning per step that failed.
pub fn harden() -> Vec<String> {
    let mut warnings = Vec::new();
    platform(&mut warnings);
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    warnings
}

#[cfg(target_os = "linux")]
fn platform(warnings: &mut Vec<String>) {
    use rustix::process::{set_dumpable_behavior, setrlimit, DumpableBehavior, Resource, Rlimit};
    if let Err(err) = set_dumpable_behavior(DumpableBehavior::NotDumpable) {
        warnings.push(format!(
            "cannot turn off ptrace and core dumps (PR_SET_DUMPABLE): {err}"
        ));
    }
    let none = Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    if let Err(err) = setrlimit(Resource::Core, none) {
        warnings.push(format!("cannot set RLIMIT_CORE to 0: {err}"));
    }
}

#[cfg(target_os = "macos")]
fn platform(warnings: &mut Vec<String>) {
    // PT_DENY_ATTACH (31): debuggers may not attach to this process. Untested on this project's CI.
    const PT_DENY_ATTACH: libc::c_int = 31;
    // SAFETY: ptrace with PT_DENY_ATTACH takes no pointers and affects only this process.
    let result = unsafe { libc::ptrace(PT_DENY_ATTACH, 0, std::ptr::null_mut(), 0) };
    if result != 0 {
        warnings.push(format!(
            "cannot deny debugger attachment (PT_DENY_ATTACH): {}",
            std::io::Error::last_os_error()
        ));
    }
    let none = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads the struct passed by reference and nothing else.
    if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) } != 0 {
        warnings.push(format!(
            "cannot set RLIMIT_CORE to 0: {}",
            std::io::Error::last_os_error()
        ));
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn platform(_warnings: &mut Vec<String>) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// Run in a child process: hardening changes the process it runs in.
    #[test]
    fn the_agent_process_is_not_dumpable_and_has_no_core_limit() {
        if std::env::var_os("SSO_AGENT_HARDENING_CHILD").is_none() {
            let output = std::process::Command::new(std::env::current_exe().unwrap())
                .env("SSO_AGENT_HARDENING_CHILD", "1")
                .args([
                    "--exact",
                    "hardening::tests::the_agent_process_is_not_dumpable_and_has_no_core_limit",
                    "--nocapture",
                ])
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success() && stdout.contains("1 passed"),
                "{stdout}"
            );
            return;
        }
        assert!(super::harden().is_empty());
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        let core = limits
            .lines()
            .find(|line| line.starts_with("Max core file size"))
            .unwrap();
        assert!(
            core.split_whitespace().filter(|word| *word == "0").count() == 2,
            "{core}"
        );
        assert_eq!(
            rustix::process::dumpable_behavior().unwrap(),
            rustix::process::DumpableBehavior::NotDumpable,
            "{status}"
        );
    }
}
