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

/// The performance figures the README quotes (`N ms`, `N µs`, `N MiB`, `N/s`, `N×`, …), each as written in
/// docs/benchmarks.md, which `scripts/bench` renders from its saved run: none is typed by hand.
fn quoted_figures(text: &str) -> Vec<String> {
    const UNITS: [&str; 9] = [" ms", " µs", " ns", " MiB", " MB", " KiB", " KB", "/s", "×"];
    let mut figures = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        let starts_number = bytes[start].is_ascii_digit()
            && (start == 0
                || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'.'));
        if !starts_number {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < bytes.len()
            && (bytes[end].is_ascii_digit() || bytes[end] == b'.' || bytes[end] == b',')
        {
            end += 1;
        }
        let number = text[start..end].trim_end_matches(['.', ',']);
        if let Some(unit) = UNITS
            .iter()
            .find(|unit| text[start + number.len()..].starts_with(**unit))
        {
            figures.push(format!("{number}{unit}"));
        }
        start = end;
    }
    figures
}

#[test]
fn the_readme_quotes_only_figures_of_the_benchmark_report() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let report = std::fs::read_to_string(root.join("docs/benchmarks.md")).unwrap();
    let figures = quoted_figures(&readme);
    for figure in &figures {
        assert!(
            report.contains(figure.as_str()),
            "the README quotes {figure}, which docs/benchmarks.md does not have"
        );
    }
    // The scan itself finds what it must.
    assert_eq!(
        quoted_figures(
            "a 1.33 ms run, 1.50× the floor, 2.1 MiB, 0.7 MB, 245,505/s, v1.2 ms, 8 hours"
        ),
        ["1.33 ms", "1.50×", "2.1 MiB", "0.7 MB", "245,505/s"]
    );
}
