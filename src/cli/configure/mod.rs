//! `sso-agent configure [--sso-session S] [--template T] [--write] [--prune]`: one `[profile …]`
//! per account and role the session may use, as a diff of the config file, or written.

mod sections;
pub mod template;
mod write;

use anyhow::{bail, Context, Result};
use sections::GeneratedProfile;
use sso_agent::protocol::AccountRoles;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use template::ProfileTemplate;

pub fn run(session: Option<String>, template: &str, write: bool, prune: bool) -> Result<()> {
    let template: ProfileTemplate = template.parse().map_err(anyhow::Error::msg)?;
    let listed = super::profiles::account_roles(session)?;
    if listed.legacy {
        bail!(
            "{} is the session of legacy profiles (sso_start_url in the profile), which generated profiles cannot name: add an [sso-session NAME] section for it (`aws configure sso-session`) and run `sso-agent configure --sso-session NAME`",
            listed.session
        );
    }
    let wanted = generated_profiles(&template, &listed)?;
    let path = PathBuf::from(sso_agent::paths::config_file_from_env());
    let before = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let before_text = std::str::from_utf8(&before)
        .with_context(|| format!("{} is not UTF-8 text; save it as UTF-8", path.display()))?;
    let plan = sections::plan(before_text, &listed.session, &wanted, prune);
    for (name, why) in &plan.skipped {
        eprintln!("sso-agent: skipped {name}: {why}");
    }
    if !plan.stale.is_empty() {
        eprintln!(
            "sso-agent: {} generated profile(s) name roles sso-session {} no longer has ({}); run with --prune to remove them",
            plan.stale.len(),
            listed.session,
            plan.stale.join(", ")
        );
    }
    let shown = path.display();
    if plan.text == before_text {
        eprintln!(
            "nothing to change in {shown}: the {} generated profile(s) of sso-session {} are current",
            plan.unchanged, listed.session
        );
        return Ok(());
    }
    if !write {
        let diff = similar::TextDiff::from_lines(before_text, plan.text.as_str());
        let diff = diff
            .unified_diff()
            .context_radius(3)
            .header(&format!("{shown}"), &format!("{shown} (configured)"))
            .to_string();
        let mut stdout = std::io::stdout().lock();
        match stdout
            .write_all(diff.as_bytes())
            .and_then(|()| stdout.flush())
        {
            // A reader that stopped early (`| head`) has read what it wanted.
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.context("cannot write the diff to stdout")?,
        }
        eprintln!(
            "sso-agent: would change {shown}: {}; run again with --write to apply it",
            plan.summary()
        );
        return Ok(());
    }
    let backup = write::replace_config(&path, &before, plan.text.as_bytes())?;
    eprintln!(
        "wrote {shown}: {}; the previous file is {}",
        plan.summary(),
        backup.display()
    );
    Ok(())
}

/// The profiles the template names, one per role; two roles given one name is an error (the
/// second would never be reachable).
fn generated_profiles(
    template: &ProfileTemplate,
    listed: &AccountRoles,
) -> Result<Vec<GeneratedProfile>> {
    let mut seen: HashMap<String, (&str, &str)> = HashMap::new();
    let mut profiles = Vec::with_capacity(listed.roles.len());
    for role in &listed.roles {
        let name = template
            .name(&listed.session, role)
            .map_err(anyhow::Error::msg)?;
        if let Some((account_id, role_name)) = seen.insert(
            name.clone(),
            (role.account_id.as_str(), role.role_name.as_str()),
        ) {
            bail!(
                "the template gives two roles the profile name {name} (role {role_name} of account {account_id} and role {} of account {}); add <account-id> to the --template",
                role.role_name,
                role.account_id
            );
        }
        profiles.push(GeneratedProfile {
            name,
            session: listed.session.clone(),
            account_id: role.account_id.clone(),
            role_name: role.role_name.clone(),
            region: listed.region.clone(),
        });
    }
    Ok(profiles)
}
