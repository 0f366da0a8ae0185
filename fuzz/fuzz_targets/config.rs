//! `~/.aws/config` parsing and checking on arbitrary text: every question the agent asks of it
//! gets an answer or an error, never a panic.
#![no_main]

use aws_types::os_shim_internal::{Env, Fs};
use libfuzzer_sys::fuzz_target;
use sso_agent::config::AwsConfig;
use std::sync::OnceLock;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().build().unwrap())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    runtime().block_on(async {
        let fs = Fs::from_slice(&[("/home/fuzz/.aws/config", text)]);
        let env = Env::from_slice(&[("HOME", "/home/fuzz")]);
        let Ok(config) = AwsConfig::load_from(&fs, &env).await else {
            return;
        };
        let index = config.index();
        let _ = index.sso_sessions();
        for (name, _) in index.sso_sessions_each() {
            let _ = index.login_command(&name);
        }
        for name in ["default", "dev", "corp", "a", ""] {
            let _ = index.profile(name);
            let _ = index.profile_role(name);
            let _ = index.sso_session(name);
            let _ = config.profile(name);
            let _ = config.license_profile(name);
            let _ = index.license_profile(name);
            let _ = index.served_role(name);
        }
        let _ = index.license_profiles();
    });
});
