//! The README's promises about itself: two set-up commands, and the install line at the start of
//! "Use it", for the newcomer who ran the demo and has no helper binary anywhere yet.

const README: &str = include_str!("../README.md");

/// The text of a `## TITLE` section.
fn section(title: &str) -> &'static str {
    let start = README
        .find(&format!("\n## {title}\n"))
        .unwrap_or_else(|| panic!("no section {title}"));
    let rest = &README[start + 1..];
    let end = rest[3..].find("\n## ").map(|i| i + 3).unwrap_or(rest.len());
    &rest[..end]
}

/// The command lines of a section's `sh` blocks (comments and blank lines left out).
fn commands(text: &str) -> Vec<&str> {
    let mut commands = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        match line.trim() {
            "```sh" => inside = true,
            "```" => inside = false,
            command if inside && !command.is_empty() && !command.starts_with('#') => {
                commands.push(command)
            }
            _ => {}
        }
    }
    commands
}

#[test]
fn set_up_is_two_commands() {
    let commands = commands(section("Set up"));
    assert_eq!(commands.len(), 2, "{commands:#?}");
    // `cargo run` would build only `sso-agent`; the demo also runs the helper.
    assert!(
        commands[0].starts_with("cargo build --release --locked && target/release/sso-agent demo")
    );
    assert!(commands[1].starts_with("scripts/test"));
}

#[test]
fn use_it_starts_with_the_install_that_puts_both_binaries_on_the_path() {
    let use_it = section("Use it");
    let install = "cargo install --locked --path .";
    let first = commands(use_it);
    assert!(
        first
            .first()
            .is_some_and(|command| command.starts_with(install)),
        "the first command of \"Use it\" is not the install: {first:#?}"
    );
    // Before the first command that needs the installed binaries.
    let installed_at = use_it.find(install).unwrap();
    let first_use = use_it
        .find("sso-agent login")
        .expect("\"Use it\" shows a login");
    assert!(installed_at < first_use);
    assert!(use_it.contains("sso-agent-credential-process"));
    // `cargo install --path .` installs every binary target: the helper is one.
    let _helper: &str = env!("CARGO_BIN_EXE_sso-agent-credential-process");
}

#[test]
fn the_license_the_readme_names_is_the_emulators_built_in_one() {
    let arn = sso_agent::emulator::fixture::DEFAULT_LICENSE_ARN;
    assert!(README.contains(arn), "the README should name {arn}");
}
