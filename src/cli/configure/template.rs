//! The profile-name template: `<account-name>/<role-name>` by default, its placeholders filled in
//! per role and the result made into a name every consumer of the file accepts.

use sso_agent::protocol::AccountRole;

pub const DEFAULT_TEMPLATE: &str = "<account-name>/<role-name>";

/// The placeholders, as a person types them and as the error lists them.
const PLACEHOLDERS: [(&str, Field); 4] = [
    ("<account-name>", Field::AccountName),
    ("<account-id>", Field::AccountId),
    ("<role-name>", Field::RoleName),
    ("<session>", Field::Session),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    AccountName,
    AccountId,
    RoleName,
    Session,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Field(Field),
}

/// A parsed `--template`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileTemplate {
    parts: Vec<Part>,
}

impl std::str::FromStr for ProfileTemplate {
    type Err = String;

    fn from_str(template: &str) -> Result<Self, String> {
        let known = || {
            PLACEHOLDERS
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('<') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            let Some(close) = rest[open..].find('>') else {
                return Err(format!(
                    "the template {template:?} has a `<` without its `>`; placeholders are {}",
                    known()
                ));
            };
            let placeholder = &rest[open..open + close + 1];
            let field = PLACEHOLDERS
                .iter()
                .find(|(name, _)| *name == placeholder)
                .map(|(_, field)| *field)
                .ok_or_else(|| {
                    format!(
                        "unknown placeholder {placeholder} in the template {template:?}; use {}",
                        known()
                    )
                })?;
            parts.push(Part::Field(field));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        if !parts.iter().any(|part| matches!(part, Part::Field(_))) {
            return Err(format!(
                "the template {template:?} has no placeholder, so every role would get the same profile name; use {}",
                known()
            ));
        }
        Ok(Self { parts })
    }
}

impl ProfileTemplate {
    /// The profile name for `role` of `session`, made safe (see `sanitise`): each filled-in
    /// value on its own, so `Acme (EU) ` + `/` gives `Acme-EU/`, not `Acme-EU-/`.
    pub fn name(&self, session: &str, role: &AccountRole) -> Result<String, String> {
        let filled: String = self
            .parts
            .iter()
            .map(|part| match part {
                Part::Literal(text) => sanitise(text),
                Part::Field(field) => {
                    let value = match field {
                        Field::AccountName => &role.account_name,
                        Field::AccountId => &role.account_id,
                        Field::RoleName => &role.role_name,
                        Field::Session => session,
                    };
                    sanitise(value).trim_matches('-').to_string()
                }
            })
            .collect();
        let name = filled.trim_matches('-').to_string();
        match name.as_str() {
            "" => Err(format!(
                "the template gives role {} of account {} an empty profile name; add <account-id> to it",
                role.role_name, role.account_id
            )),
            // `[profile default]` is the AWS CLI's `[default]`: never ours to write.
            "default" => Err(format!(
                "the template gives role {} of account {} the name `default`; change the template",
                role.role_name, role.account_id
            )),
            _ => Ok(name),
        }
    }
}

/// A profile name aws-sdk-rust accepts (it drops a section whose name has any other character:
/// ASCII letters, digits and `_-/.%@:+`), which botocore and the AWS CLI also read as written and
/// which needs no quoting in `credential_process = … --profile NAME` (run through `sh -c`). Each
/// run of other characters becomes one `-`.
fn sanitise(name: &str) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_-/.%@:+".contains(c);
    let mut out = String::with_capacity(name.len());
    let mut replacing = false;
    for c in name.chars() {
        if allowed(c) {
            out.push(c);
            replacing = false;
        } else if !replacing {
            out.push('-');
            replacing = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(account_name: &str, role_name: &str) -> AccountRole {
        AccountRole {
            account_id: "111122223333".into(),
            account_name: account_name.into(),
            role_name: role_name.into(),
        }
    }

    #[test]
    fn the_default_template_is_account_name_slash_role_name() {
        let template: ProfileTemplate = DEFAULT_TEMPLATE.parse().unwrap();
        assert_eq!(
            template.name("corp", &role("dev", "Developer")).unwrap(),
            "dev/Developer"
        );
    }

    #[test]
    fn every_placeholder_is_filled_and_the_literals_kept() {
        let template: ProfileTemplate = "<session>:<account-id>.<role-name>@<account-name>"
            .parse()
            .unwrap();
        assert_eq!(
            template.name("corp", &role("dev", "Admin")).unwrap(),
            "corp:111122223333.Admin@dev"
        );
    }

    #[test]
    fn names_are_sanitised_to_what_the_sdks_accept() {
        let template: ProfileTemplate = DEFAULT_TEMPLATE.parse().unwrap();
        assert_eq!(
            template
                .name("corp", &role("  Acme Prod (EU) ", "Read Only"))
                .unwrap(),
            "Acme-Prod-EU/Read-Only"
        );
        assert_eq!(sanitise("a'b\"c[d]e;f#g h$i"), "a-b-c-d-e-f-g-h-i");
        assert_eq!(sanitise("émoji→ok"), "-moji-ok");
        let literal: ProfileTemplate = "<account-id> as <role-name>".parse().unwrap();
        assert_eq!(
            literal.name("corp", &role("dev", "Dev")).unwrap(),
            "111122223333-as-Dev"
        );
    }

    #[test]
    fn a_bad_template_says_what_to_use() {
        for (template, expected) in [
            ("<account>/<role-name>", "unknown placeholder <account>"),
            (
                "<account-name/<role-name>",
                "unknown placeholder <account-name/<role-name>",
            ),
            ("<role-name", "without its `>`"),
            ("static", "no placeholder"),
        ] {
            let err = template.parse::<ProfileTemplate>().unwrap_err();
            assert!(err.contains(expected), "{template}: {err}");
            assert!(
                err.contains("<account-name>, <account-id>, <role-name>, <session>"),
                "{err}"
            );
        }
        let template: ProfileTemplate = "<role-name>".parse().unwrap();
        assert!(template
            .name("corp", &role("a", "default"))
            .unwrap_err()
            .contains("default"));
        assert!(template
            .name("corp", &role("a", "!!"))
            .unwrap_err()
            .contains("empty"));
    }
}
