//! Links the daemon's code in the order it runs: `link/daemon.order` names the functions a
//! profile of the agent executed (`scripts/order-file` writes it), and the linker puts them side
//! by side at the start of the code. The kernel maps a binary's code in 64 KiB around each page
//! touched, so the daemon's resident code is what it ran plus whatever sits next to it: scattered
//! through the binary, that was most of the binary.
//!
//! Only for a release build, and only when this build's linker takes `--symbol-ordering-file`
//! (LLD does; GNU ld, gold and mold do not): a probe program is linked with the option first,
//! with the same rustc, target, rustflags and linker (not through a `RUSTC_WRAPPER`: a cache has
//! nothing to give a probe). Where it fails, the binary is linked in the usual order.
//! `SSO_AGENT_NO_LINK_ORDER`, set to anything, turns the order off (the bench's comparison).
//! A name the file has and the binary lacks (the code or the toolchain changed since) is
//! skipped by the linker.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const ORDER: &str = "link/daemon.order";

fn main() {
    let order = Path::new(&env::var_os("CARGO_MANIFEST_DIR").unwrap()).join(ORDER);
    // A path cargo is told to watch and cannot find reruns this script on every build.
    match order.is_file() {
        true => println!("cargo:rerun-if-changed={ORDER}"),
        false => println!("cargo:rerun-if-changed=build.rs"),
    }
    // What chooses the linker or its flags. A linker set in a `.cargo/config.toml` reaches this
    // script only as RUSTC_LINKER, which cargo does not watch: `cargo clean -p sso-agent` then.
    let target = env::var("TARGET")
        .unwrap_or_default()
        .to_uppercase()
        .replace(['-', '.'], "_");
    for variable in [
        "SSO_AGENT_NO_LINK_ORDER".to_string(),
        "RUSTFLAGS".to_string(),
        "CARGO_ENCODED_RUSTFLAGS".to_string(),
        "CARGO_BUILD_RUSTFLAGS".to_string(),
        format!("CARGO_TARGET_{target}_LINKER"),
        format!("CARGO_TARGET_{target}_RUSTFLAGS"),
    ] {
        println!("cargo:rerun-if-env-changed={variable}");
    }
    let wanted = env::var("PROFILE").as_deref() == Ok("release")
        && env::var_os("SSO_AGENT_NO_LINK_ORDER").is_none()
        && order.is_file();
    let Some(order) = order.to_str().filter(|_| wanted) else {
        return;
    };
    let args = linker_args(order);
    if links_with(&args) {
        for arg in args {
            println!("cargo:rustc-link-arg-bin=sso-agent={arg}");
        }
    }
}

/// The linker options, each after `-Xlinker` (a path with a comma would split a `-Wl,` list).
fn linker_args(order: &str) -> Vec<String> {
    [
        format!("--symbol-ordering-file={order}"),
        "--no-warn-symbol-ordering".to_string(),
    ]
    .into_iter()
    .flat_map(|option| ["-Xlinker".to_string(), option])
    .collect()
}

/// Whether an empty program links with `args`, built as this crate's binaries are.
fn links_with(args: &[String]) -> bool {
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let source = out.join("link_order_probe.rs");
    if std::fs::write(&source, "fn main() {}\n").is_err() {
        return false;
    }
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut probe = Command::new(rustc);
    // Lints off: a `-D` lint among the rustflags must not fail an empty program.
    probe
        .arg(&source)
        .arg("-o")
        .arg(out.join("link_order_probe"))
        .args(["--crate-type", "bin", "--cap-lints", "allow"]);
    if let Ok(target) = env::var("TARGET") {
        probe.args(["--target", &target]);
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    probe.args(flags.split('\x1f').filter(|flag| !flag.is_empty()));
    if let Some(linker) = env::var_os("RUSTC_LINKER") {
        let mut flag = std::ffi::OsString::from("linker=");
        flag.push(linker);
        probe.arg("-C").arg(flag);
    }
    for arg in args {
        probe.arg(format!("-Clink-arg={arg}"));
    }
    probe
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}
