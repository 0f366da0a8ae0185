//! Links the daemon's code in the order it runs: `link/daemon.order` names the functions a
//! profile of the agent executed (`scripts/order-file` writes it), and the linker puts them side
//! by side at the start of the code. The kernel maps a binary's code in 64 KiB around each page
//! touched, so the daemon's resident code is what it ran plus whatever sits next to it: scattered
//! through the binary, that was most of the binary.
//!
//! Only where the linker is known to take `--symbol-ordering-file`: rustc's own LLD, which is
//! the default on x86_64 Linux since Rust 1.90, when nothing chose another linker. GNU ld has no
//! such option and would fail the link; elsewhere the binary is just linked in the usual order.
//! A name the file has and the binary lacks (the code changed since) is skipped.

use std::env;
use std::path::Path;
use std::process::Command;

const ORDER: &str = "link/daemon.order";

fn main() {
    println!("cargo:rerun-if-changed={ORDER}");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    if env::var("PROFILE").as_deref() == Ok("release") && rustc_lld_links() {
        let order = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join(ORDER);
        println!(
            "cargo:rustc-link-arg-bin=sso-agent=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bin=sso-agent=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether rustc links this build with its own LLD.
fn rustc_lld_links() -> bool {
    let target = env::var("TARGET").unwrap_or_default();
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let chose_a_linker = env::var_os("RUSTC_LINKER").is_some()
        || ["linker", "link-self-contained", "fuse-ld"]
            .iter()
            .any(|flag| flags.contains(flag));
    target == "x86_64-unknown-linux-gnu" && !chose_a_linker && rustc_minor() >= Some(90)
}

/// The `1.N` of the rustc that builds this crate.
fn rustc_minor() -> Option<u32> {
    let rustc = env::var_os("RUSTC")?;
    let output = Command::new(rustc).arg("-vV").output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let release = text
        .lines()
        .find_map(|line| line.strip_prefix("release: "))?;
    release.split('.').nth(1)?.parse().ok()
}
