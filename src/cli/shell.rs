//! Environment lines for the shells `export` and `ecs-env` print for: POSIX `export`, fish and
//! PowerShell, each quoted so any value survives `eval` unchanged.

use clap::ValueEnum;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// `export NAME='value'` (bash, zsh, sh): `eval "$(sso-agent …)"`.
    Env,
    /// `set -gx NAME 'value'`: `sso-agent … | source`.
    Fish,
    /// `$Env:NAME = 'value'`: `sso-agent … | Invoke-Expression`.
    Powershell,
}

impl Shell {
    pub fn set(self, name: &str, value: &str) -> String {
        match self {
            Shell::Env => format!("export {name}={}", posix_quote(value)),
            Shell::Fish => format!("set -gx {name} {}", fish_quote(value)),
            Shell::Powershell => format!("$Env:{name} = {}", powershell_quote(value)),
        }
    }

    pub fn unset(self, name: &str) -> String {
        match self {
            Shell::Env => format!("unset {name}"),
            Shell::Fish => format!("set -e {name}"),
            Shell::Powershell => {
                format!("Remove-Item Env:{name} -ErrorAction SilentlyContinue")
            }
        }
    }
}

/// `'…'` with each `'` as `'\''`: nothing inside single quotes is expanded.
fn posix_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// fish expands nothing in single quotes but `\'` and `\\`.
fn fish_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', r"\\").replace('\'', r"\'"))
}

/// PowerShell ends a single-quoted string at `'` and also at the typographic quotes
/// U+2018–U+201B; each is escaped by doubling it.
fn powershell_quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('\'');
    for c in value.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            quoted.push(c);
        }
        quoted.push(c);
    }
    quoted.push('\'');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_with_quotes_and_dollars_survive_posix_sh() {
        let value = r#"a'b"c$HOME`x`\n"#;
        let line = Shell::Env.set("SSO_AGENT_QUOTE_TEST", value);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{line}; printf %s \"$SSO_AGENT_QUOTE_TEST\""))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), value);
    }

    #[test]
    fn fish_and_powershell_quote_their_own_way() {
        assert_eq!(Shell::Fish.set("A", r"x'\y"), r"set -gx A 'x\'\\y'");
        assert_eq!(Shell::Powershell.set("A", "x'y"), "$Env:A = 'x''y'");
        assert_eq!(
            Shell::Powershell.set("A", "a\u{2018}b\u{2019}c\u{201A}d\u{201B}e"),
            "$Env:A = 'a\u{2018}\u{2018}b\u{2019}\u{2019}c\u{201A}\u{201A}d\u{201B}\u{201B}e'"
        );
        assert_eq!(Shell::Env.unset("A"), "unset A");
    }
}
