//! The config file as text: where each section starts and ends, which sections are sso-agent's,
//! and the new text once its sections are added, rewritten in place or removed. It works on the
//! text as it is, not through an INI crate that would write the whole file back in its own
//! layout: every byte outside the generated sections must stay as the person left it.

use sso_agent::config::generated::{ACCOUNT_ID, MARKER, ROLE_NAME, SESSION};
use std::collections::HashSet;

/// One profile `configure` wants in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedProfile {
    pub name: String,
    pub session: String,
    pub account_id: String,
    pub role_name: String,
    pub region: String,
}

impl GeneratedProfile {
    /// The section as written: the role in `sso_agent_*` keys (see `config::generated`), so the
    /// SDKs run the helper, which names this very profile.
    pub fn render(&self) -> String {
        format!(
            "[profile {name}]\n\
             # Written by `sso-agent configure`, which rewrites this section: keep your own keys in another profile.\n\
             {MARKER} = true\n\
             {SESSION} = {session}\n\
             {ACCOUNT_ID} = {account_id}\n\
             {ROLE_NAME} = {role_name}\n\
             credential_process = sso-agent-credential-process --profile {name}\n\
             region = {region}\n",
            name = self.name,
            session = self.session,
            account_id = self.account_id,
            role_name = self.role_name,
            region = self.region,
        )
    }
}

/// What a run does to the file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// The whole new text.
    pub text: String,
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: usize,
    pub removed: Vec<String>,
    /// Generated profiles whose role is gone, kept (no `--prune`).
    pub stale: Vec<String>,
    /// Profiles not written, each with why (the name is someone else's).
    pub skipped: Vec<(String, String)>,
}

impl Plan {
    pub fn summary(&self) -> String {
        format!(
            "{} added, {} updated, {} removed, {} unchanged",
            self.added.len(),
            self.updated.len(),
            self.removed.len(),
            self.unchanged
        )
    }
}

/// A section of the file: from its header to its last line that is not blank or a comment (the
/// blank lines and comments before the next header belong to what follows, not to it).
#[derive(Debug)]
struct Section {
    start: usize,
    end: usize,
    /// The profile it is (`default` for `[default]`); None for other sections.
    profile: Option<String>,
    /// For a generated section, its role.
    generated: Option<GeneratedRole>,
}

#[derive(Debug, PartialEq, Eq)]
struct GeneratedRole {
    session: Option<String>,
    account_id: Option<String>,
    role_name: Option<String>,
}

/// The profile a header line names: `[profile NAME]` (quotes removed) or `[default]`.
fn header_profile(line: &str) -> Option<String> {
    let inner = line.trim().strip_prefix('[')?;
    let inner = inner[..inner.find(']')?].trim();
    if inner == "default" {
        return Some("default".to_string());
    }
    let name = inner.strip_prefix("profile")?;
    if !name.starts_with(char::is_whitespace) {
        return None;
    }
    Some(name.trim().trim_matches('"').to_string())
}

fn is_header(line: &str) -> bool {
    line.trim_start().starts_with('[')
}

/// A blank line or a comment: never the last line of a section.
fn is_trailing_filler(line: &str) -> bool {
    let trimmed = line.trim();
    trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';')
}

/// `key = value` of a line, trimmed (not for comments or continuation lines).
fn key_value(line: &str) -> Option<(&str, &str)> {
    if line.starts_with(char::is_whitespace) || is_trailing_filler(line) {
        return None;
    }
    let (key, value) = line.split_once('=')?;
    Some((key.trim(), value.trim()))
}

fn sections(text: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let line_end = offset + line.len();
        if is_header(line) {
            sections.push(Section {
                start: offset,
                end: line_end,
                profile: header_profile(line),
                generated: None,
            });
        } else if let Some(section) = sections.last_mut() {
            if !is_trailing_filler(line) {
                section.end = line_end;
            }
            if let Some((key, value)) = key_value(line) {
                let generated = section.generated.get_or_insert(GeneratedRole {
                    session: None,
                    account_id: None,
                    role_name: None,
                });
                let value = Some(value.to_string());
                match key {
                    SESSION => generated.session = value,
                    ACCOUNT_ID => generated.account_id = value,
                    ROLE_NAME => generated.role_name = value,
                    _ => {}
                }
            }
        }
        offset = line_end;
    }
    // Only a section with the marker is generated; the keys alone may be the person's own.
    for section in &mut sections {
        let marked = text[section.start..section.end]
            .lines()
            .filter_map(key_value)
            .any(|(key, _)| key == MARKER);
        if !marked {
            section.generated = None;
        }
    }
    sections
}

/// The new text: each wanted profile of `session` rewritten where its generated section is (found
/// by its role, so a changed template renames it in place), else appended; generated sections of
/// `session` whose role is not wanted removed with `prune`, else kept and listed as stale.
/// Sections that are not generated, and generated ones of other sessions, are never touched.
pub fn plan(text: &str, session: &str, wanted: &[GeneratedProfile], prune: bool) -> Plan {
    let sections = sections(text);
    let mut names: HashSet<String> = sections.iter().filter_map(|s| s.profile.clone()).collect();
    let ours = |section: &Section| {
        section
            .generated
            .as_ref()
            .is_some_and(|role| role.session.as_deref() == Some(session))
    };
    let mut plan = Plan::default();
    let mut claimed: HashSet<usize> = HashSet::new();
    // (start, end, replacement), in file order once sorted.
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut appended: Vec<String> = Vec::new();
    for profile in wanted {
        let same_role = sections.iter().enumerate().find(|(index, section)| {
            ours(section)
                && !claimed.contains(index)
                && section.generated.as_ref().is_some_and(|role| {
                    role.account_id.as_deref() == Some(profile.account_id.as_str())
                        && role.role_name.as_deref() == Some(profile.role_name.as_str())
                })
        });
        let rendered = profile.render();
        match same_role {
            Some((index, section)) => {
                claimed.insert(index);
                let renamed = section.profile.as_deref() != Some(profile.name.as_str());
                if renamed && names.contains(&profile.name) {
                    plan.skipped
                        .push((profile.name.clone(), taken(&sections, &profile.name)));
                } else if text[section.start..section.end] == rendered {
                    plan.unchanged += 1;
                } else {
                    names.insert(profile.name.clone());
                    edits.push((section.start, section.end, rendered));
                    plan.updated.push(profile.name.clone());
                }
            }
            None if names.contains(&profile.name) => {
                plan.skipped
                    .push((profile.name.clone(), taken(&sections, &profile.name)));
            }
            None => {
                names.insert(profile.name.clone());
                appended.push(rendered);
                plan.added.push(profile.name.clone());
            }
        }
    }
    for (index, section) in sections.iter().enumerate() {
        if !ours(section) || claimed.contains(&index) {
            continue;
        }
        let name = section.profile.clone().unwrap_or_default();
        if prune {
            // The blank line `configure` put before the section goes with it.
            let start = if text[..section.start].ends_with("\n\n") {
                section.start - 1
            } else {
                section.start
            };
            edits.push((start, section.end, String::new()));
            plan.removed.push(name);
        } else {
            plan.stale.push(name);
        }
    }
    edits.sort_by_key(|(start, _, _)| *start);
    let mut out =
        String::with_capacity(text.len() + appended.iter().map(String::len).sum::<usize>());
    let mut copied = 0;
    for (start, end, replacement) in edits {
        out.push_str(&text[copied..start]);
        out.push_str(&replacement);
        copied = end;
    }
    out.push_str(&text[copied..]);
    for section in appended {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
        out.push_str(&section);
    }
    plan.text = out;
    plan
}

/// Why a name cannot be written: whose section has it.
fn taken(sections: &[Section], name: &str) -> String {
    let owner = sections
        .iter()
        .find(|section| section.profile.as_deref() == Some(name));
    match owner.and_then(|section| section.generated.as_ref()) {
        Some(role) => format!(
            "[profile {name}] is already sso-agent's for role {} of account {} (sso-session {}); choose a --template that tells them apart (with <session> or <account-id>)",
            role.role_name.as_deref().unwrap_or("?"),
            role.account_id.as_deref().unwrap_or("?"),
            role.session.as_deref().unwrap_or("?"),
        ),
        None => format!(
            "[profile {name}] is yours (it has no `{MARKER}`), so it is left as it is; rename it, or choose another --template"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str, account_id: &str, role_name: &str) -> GeneratedProfile {
        GeneratedProfile {
            name: name.into(),
            session: "corp".into(),
            account_id: account_id.into(),
            role_name: role_name.into(),
            region: "us-east-1".into(),
        }
    }

    const HAND_WRITTEN: &str = "# my settings\n[default]\nregion = eu-west-1 ; mine\n\n\
        [profile dev/Developer]\nregion = us-west-2\n\n;; trailing notes\n[sso-session corp]\n\
        sso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1";

    #[test]
    fn new_sections_go_at_the_end_and_everything_before_stays() {
        let wanted = [
            profile("dev/Admin", "1", "Admin"),
            profile("prod/Read", "2", "Read"),
        ];
        let plan = plan(HAND_WRITTEN, "corp", &wanted, false);
        assert!(plan.text.starts_with(HAND_WRITTEN));
        assert_eq!(
            &plan.text[HAND_WRITTEN.len()..],
            format!("\n\n{}\n{}", wanted[0].render(), wanted[1].render())
        );
        assert_eq!(plan.added, ["dev/Admin", "prod/Read"]);
    }

    #[test]
    fn a_second_run_changes_nothing_and_a_changed_role_is_rewritten_in_place() {
        let wanted = [
            profile("dev/Admin", "1", "Admin"),
            profile("prod/Read", "2", "Read"),
        ];
        let first = plan(HAND_WRITTEN, "corp", &wanted, false).text;
        let second = plan(&first, "corp", &wanted, true);
        assert_eq!(second.text, first);
        assert_eq!(second.unchanged, 2);
        // A new region and a new template: the same sections, rewritten where they are.
        let mut moved = wanted.clone();
        moved[0].region = "eu-central-1".into();
        moved[1].name = "Read@prod".into();
        let third = plan(&first, "corp", &moved, false);
        assert_eq!(third.updated, ["dev/Admin", "Read@prod"]);
        assert_eq!(
            third.text,
            format!(
                "{HAND_WRITTEN}\n\n{}\n{}",
                moved[0].render(),
                moved[1].render()
            )
        );
    }

    #[test]
    fn a_hand_written_profile_of_the_same_name_is_skipped() {
        let wanted = [profile("dev/Developer", "1", "Developer")];
        let plan = plan(HAND_WRITTEN, "corp", &wanted, false);
        assert_eq!(plan.text, HAND_WRITTEN);
        assert_eq!(plan.skipped.len(), 1);
        assert!(plan.skipped[0].1.contains("is yours"), "{:?}", plan.skipped);
    }

    #[test]
    fn a_name_another_session_generated_is_skipped_with_how_to_tell_them_apart() {
        let mut theirs = profile("dev/Developer", "9", "Developer");
        theirs.session = "other".into();
        let text = theirs.render();
        let plan = plan(
            &text,
            "corp",
            &[profile("dev/Developer", "1", "Developer")],
            true,
        );
        assert_eq!(plan.text, text);
        assert!(plan.removed.is_empty());
        let (name, why) = &plan.skipped[0];
        assert_eq!(name, "dev/Developer");
        assert!(
            why.contains("sso-session other") && why.contains("<session>"),
            "{why}"
        );
    }

    #[test]
    fn prune_removes_only_this_sessions_generated_sections_whose_role_is_gone() {
        let wanted = [
            profile("a", "1", "A"),
            profile("b", "1", "B"),
            profile("c", "1", "C"),
        ];
        let mut other = profile("x", "9", "X");
        other.session = "other".into();
        let mut start = plan(HAND_WRITTEN, "corp", &wanted, false).text;
        start.push_str(&format!("\n{}\n# after\n", other.render()));
        let kept = [wanted[0].clone(), wanted[2].clone()];
        let without = plan(&start, "corp", &kept, false);
        assert_eq!(without.text, start);
        assert_eq!(without.stale, ["b"]);
        let pruned = plan(&start, "corp", &kept, true);
        assert_eq!(pruned.removed, ["b"]);
        assert_eq!(
            pruned.text,
            format!(
                "{HAND_WRITTEN}\n\n{}\n{}\n{}\n# after\n",
                wanted[0].render(),
                wanted[2].render(),
                other.render()
            )
        );
    }

    #[test]
    fn a_section_without_the_marker_is_never_taken_for_a_generated_one() {
        let mine = profile("a", "1", "A")
            .render()
            .replace(&format!("{MARKER} = true\n"), "");
        let plan = plan(&mine, "corp", &[], true);
        assert_eq!(plan.text, mine);
        assert!(plan.removed.is_empty());
    }

    #[test]
    fn headers_are_read_as_the_sdks_read_them() {
        assert_eq!(header_profile("[profile dev]"), Some("dev".into()));
        assert_eq!(
            header_profile("  [ profile   \"my dev\" ]  # c"),
            Some("my dev".into())
        );
        assert_eq!(header_profile("[default]"), Some("default".into()));
        assert_eq!(header_profile("[sso-session corp]"), None);
        assert_eq!(header_profile("[profiledev]"), None);
    }
}
