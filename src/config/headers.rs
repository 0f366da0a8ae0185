//! Section headers as botocore reads them, before aws-config's parser sees the file.
//!
//! botocore (and so the AWS CLI) splits a `[profile …]` or `[sso-session …]` header with
//! `shlex.split` and keeps it when that gives exactly two words: `[profile "my dev"]` is the
//! profile `my dev`. aws-config drops any name outside `[A-Za-z0-9_\-/.%@:\+]+` with a log line
//! only. So a header whose name botocore accepts but aws-config would drop is rewritten, on its own
//! line, to a stand-in name aws-config keeps, and the stand-in is mapped back afterwards. Headers
//! both would drop are remembered with the reason, for the message that names the missing section.

use std::collections::HashMap;

/// Which kind of section a header opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SectionKind {
    Profile,
    SsoSession,
}

impl SectionKind {
    pub fn prefix(self) -> &'static str {
        match self {
            SectionKind::Profile => "profile",
            SectionKind::SsoSession => "sso-session",
        }
    }
}

/// A header neither botocore nor aws-config reads, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredSection {
    pub line: usize,
    pub kind: SectionKind,
    /// The name a reader probably meant (`my dev` for `[profile my dev]`).
    pub name: String,
    pub reason: String,
}

/// The file's text as aws-config should parse it, and how to map names back.
#[derive(Debug, Default)]
pub struct Prepared {
    pub text: String,
    /// (kind, name as written) → the stand-in name aws-config knows it by.
    pub stand_ins: HashMap<(SectionKind, String), String>,
    pub ignored: Vec<IgnoredSection>,
}

/// Stand-ins contain `%`, which no name needs: a collision with a real name would take a profile
/// called exactly `%sso-agent%3`.
fn stand_in(index: usize) -> String {
    format!("%sso-agent%{index}")
}

pub fn prepare(text: &str) -> Prepared {
    let mut prepared = Prepared {
        text: String::with_capacity(text.len()),
        ..Prepared::default()
    };
    // `split_inclusive` keeps each line's own ending, so line numbers and the rest stay as written.
    for (index, line) in text.split_inclusive('\n').enumerate() {
        match rewrite(line, index + 1, &mut prepared) {
            Some(header) => {
                prepared.text.push_str(&header);
                prepared.text.push('\n');
            }
            None => prepared.text.push_str(line),
        }
    }
    prepared
}

/// aws-config's idea of a header line: it starts with `[`; a comment (`#` or `;`) ends it.
fn rewrite(line: &str, number: usize, prepared: &mut Prepared) -> Option<String> {
    if !line.starts_with('[') {
        return None;
    }
    let content = line.trim_end_matches(['\n', '\r']);
    let content = content[..content.find(['#', ';']).unwrap_or(content.len())].trim_matches(WS);
    let inner = content
        .strip_prefix('[')?
        .strip_suffix(']')?
        .trim_matches(WS);
    let (prefix, rest) = inner.split_once(WS)?;
    let kind = match prefix {
        "profile" => SectionKind::Profile,
        "sso-session" => SectionKind::SsoSession,
        _ => return None,
    };
    let rest = rest.trim_matches(WS);
    if is_identifier(rest) {
        return None; // aws-config reads it as it is
    }
    let words = match shell_words(rest) {
        Some(words) => words,
        None => {
            prepared.ignored.push(IgnoredSection {
                line: number,
                kind,
                name: rest.to_string(),
                reason: "its name has an unclosed quote".into(),
            });
            return None;
        }
    };
    match words.as_slice() {
        [name] if is_identifier(name) => Some(format!("[{prefix} {name}]")),
        [name] => {
            let key = (kind, name.clone());
            let next = prepared.stand_ins.len();
            let stand_in = prepared
                .stand_ins
                .entry(key)
                .or_insert_with(|| stand_in(next))
                .clone();
            Some(format!("[{prefix} {stand_in}]"))
        }
        _ => {
            prepared.ignored.push(IgnoredSection {
                line: number,
                kind,
                name: words.join(" "),
                reason: format!(
                    "a name with spaces must be quoted, as in [{prefix} \"{}\"]",
                    words.join(" ")
                ),
            });
            None
        }
    }
}

const WS: &[char] = &[' ', '\t'];

/// aws-config's identifier rule (`env_config::normalize::validate_identifier`).
fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-/.%@:+".contains(c))
}

/// POSIX `shlex.split` as botocore calls it (no comments): words split on whitespace, `'…'`
/// literal, `"…"` with `\` escaping `\ " $` and a backquote, `\` outside quotes escaping any
/// character. `None` for an unclosed quote or a trailing `\` (shlex raises; botocore skips the
/// section).
fn shell_words(text: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if let Some(done) = word.take() {
                    words.push(done);
                }
            }
            '\'' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        other => current.push(other),
                    }
                }
            }
            '"' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            escaped @ ('\\' | '"' | '$' | '`') => current.push(escaped),
                            other => {
                                current.push('\\');
                                current.push(other);
                            }
                        },
                        other => current.push(other),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).push(chars.next()?),
            other => word.get_or_insert_with(String::new).push(other),
        }
    }
    words.extend(word);
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_split_as_shlex_splits_them() {
        let split = |text: &str| shell_words(text);
        assert_eq!(split("\"my dev\""), Some(vec!["my dev".to_string()]));
        assert_eq!(split("'a b'  c"), Some(vec!["a b".into(), "c".into()]));
        assert_eq!(split(r#""a\"b""#), Some(vec![r#"a"b"#.to_string()]));
        assert_eq!(split(r"a\ b"), Some(vec!["a b".to_string()]));
        assert_eq!(split("\"open"), None);
    }

    #[test]
    fn a_quoted_name_gets_a_stand_in_and_keeps_its_line() {
        let text = "[profile \"my dev\"] # mine\nregion = x\n[profile \"plain\"]\n[profile my dev]\n[sso-session 'a b']\n";
        let prepared = prepare(text);
        assert_eq!(
            prepared.text,
            "[profile %sso-agent%0]\nregion = x\n[profile plain]\n[profile my dev]\n[sso-session %sso-agent%1]\n"
        );
        let stand_in = |kind, name: &str| prepared.stand_ins[&(kind, name.to_string())].clone();
        assert_eq!(stand_in(SectionKind::Profile, "my dev"), "%sso-agent%0");
        assert_eq!(stand_in(SectionKind::SsoSession, "a b"), "%sso-agent%1");
        assert_eq!(prepared.ignored.len(), 1);
        assert_eq!(prepared.ignored[0].line, 4);
        assert_eq!(prepared.ignored[0].name, "my dev");
    }

    #[test]
    fn other_lines_are_left_alone() {
        let text = "[default]\n  [profile \"x y\"]\nkey = [profile \"x y\"]\n[services local]\r\n";
        assert_eq!(prepare(text).text, text);
    }
}
