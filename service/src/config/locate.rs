//! Where a key is written: the line of a key path (`trust[0].claims.enviroment`,
//! `rules[2].run.ref[0]`, `masking.columns[1].columns[0]`) in the file's text.
//!
//! The text is parsed again with spans (`toml::de::DeTable`), so `[[trust]]` arrays of tables,
//! `[trust.claims]` sub-tables, inline tables and multi-line arrays all place their keys where
//! they are written. A key that cannot be found falls back to its nearest parent that can.

use std::fmt;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::base::lint::Finding;

/// A finding with the file and line it is about: what `hoop config check` prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// The file, as the command was given it.
    pub origin: String,
    /// 1-based; `None` when not even the key's section is written in the file.
    pub line: Option<usize>,
    pub finding: Finding,
}

impl Located {
    /// Places each of `findings` in `text`, sorted by line (stable: findings of one line keep
    /// their order; those without a line come last).
    pub fn all(origin: &str, text: &str, findings: Vec<Finding>) -> Vec<Located> {
        let mut located: Vec<Located> = findings
            .into_iter()
            .map(|finding| Located {
                origin: origin.to_owned(),
                line: line_of(text, &finding.key),
                finding,
            })
            .collect();
        located.sort_by_key(|l| l.line.unwrap_or(usize::MAX));
        located
    }
}

/// `FILE:LINE: SEVERITY: KEY: message`, then `  fix: ...` on a line of its own.
impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Finding {
            severity,
            key,
            message,
            fix,
        } = &self.finding;
        match self.line {
            Some(line) => write!(f, "{}:{line}: ", self.origin)?,
            None => write!(f, "{}: ", self.origin)?,
        }
        write!(f, "{}: {key}: {message}\n  fix: {fix}", severity.as_str())
    }
}

/// One step of a key path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// The 1-based line where `key` is written in `text`: a table key's own line, an array
/// element's line, a `[[section]]` element's header. A path that leads nowhere gives the line
/// of its longest prefix that does; `None` when not even its first key is in the file (or the
/// text does not parse, or the path is not one).
pub fn line_of(text: &str, key: &str) -> Option<usize> {
    let steps = steps(key)?;
    let root = DeTable::parse(text).ok()?;
    let mut table: Option<&DeTable<'_>> = Some(root.get_ref());
    let mut value: Option<&Spanned<DeValue<'_>>> = None;
    let mut found: Option<usize> = None;
    for step in &steps {
        let next = match step {
            Step::Key(name) => table.and_then(|t| {
                t.iter()
                    .find(|(k, _)| &**k.get_ref() == name.as_str())
                    .map(|(k, v)| (k.span().start, v))
            }),
            Step::Index(i) => match value.map(Spanned::get_ref) {
                Some(DeValue::Array(items)) => items.get(*i).map(|v| (v.span().start, v)),
                _ => None,
            },
        };
        let Some((at, v)) = next else { break };
        found = Some(at);
        value = Some(v);
        table = match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => None,
        };
    }
    found.map(|at| line_at(text, at))
}

/// The 1-based line of byte offset `at`.
fn line_at(text: &str, at: usize) -> usize {
    let at = at.min(text.len());
    text.as_bytes()[..at]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// `a.b[0]."c.d"[1]` → `a`, `b`, 0, `c.d`, 1. A key with characters other than letters,
/// digits, `_` and `-` is written quoted (`claims."x.y"`), as in TOML.
fn steps(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let (index, tail) = after.split_once(']')?;
            steps.push(Step::Index(index.parse().ok()?));
            rest = tail;
        } else {
            if !steps.is_empty() {
                rest = rest.strip_prefix('.')?;
            }
            if let Some(quoted) = rest.strip_prefix('"') {
                let (name, tail) = quoted.split_once('"')?;
                steps.push(Step::Key(name.to_owned()));
                rest = tail;
            } else {
                let end = rest.find(['.', '[']).unwrap_or(rest.len());
                if end == 0 {
                    return None;
                }
                steps.push(Step::Key(rest[..end].to_owned()));
                rest = &rest[end..];
            }
        }
    }
    (!steps.is_empty()).then_some(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"[server]
secret_key = "x"

[[trust]]
name = "deploy"
issuer = "github"
claims = { repository_id = 42,
  enviroment = "prod" }
connections = ["payments"]

[[trust]]
name = "checks"
issuer = "gitlab"
connections = [
  "payments",
  "ledger",
]

[trust.claims]
ref = "main"
"odd.name" = "x"

[[rules]]
id = "r0"
[[rules]]
id = "r1"
[[rules]]
id = "r2"
[rules.run]
ref = ["main",
  "refs/heads/dev"]

[masking]
[[masking.columns]]
table = "a"
columns = ["x"]
[[masking.columns]]
table = "b"
columns = [
  "pan",
  "cvv",
]

[policy]
pan_columns = ["public.cards.pan",
  "public.cards.number"]
"#;

    #[test]
    fn keys_of_arrays_of_tables_and_inline_tables_are_placed() {
        let at = |key| line_of(FILE, key);
        assert_eq!(at("server.secret_key"), Some(2));
        assert_eq!(at("trust[0]"), Some(4));
        assert_eq!(at("trust[0].claims"), Some(7));
        assert_eq!(at("trust[0].claims.repository_id"), Some(7));
        assert_eq!(at("trust[0].claims.enviroment"), Some(8));
        assert_eq!(at("trust[0].connections[0]"), Some(9));
        assert_eq!(at("trust[1]"), Some(11));
        assert_eq!(at("trust[1].connections[1]"), Some(16));
        assert_eq!(at("trust[1].claims"), Some(19));
        assert_eq!(at("trust[1].claims.ref"), Some(20));
        assert_eq!(at("trust[1].claims.\"odd.name\""), Some(21));
        assert_eq!(at("rules[2]"), Some(27));
        assert_eq!(at("rules[2].run.ref[0]"), Some(30));
        assert_eq!(at("rules[2].run.ref[1]"), Some(31));
        assert_eq!(at("masking.columns[1].columns[0]"), Some(40));
        assert_eq!(at("masking.columns[1].columns[1]"), Some(41));
        assert_eq!(at("policy.pan_columns[0]"), Some(45));
        assert_eq!(at("policy.pan_columns[1]"), Some(46));
    }

    #[test]
    fn a_missing_key_falls_back_to_its_nearest_parent() {
        let at = |key| line_of(FILE, key);
        assert_eq!(at("trust[0].claims.environment"), Some(7));
        assert_eq!(at("trust[0].role"), Some(4));
        assert_eq!(at("trust[5].claims.ref"), Some(4), "the array itself");
        assert_eq!(at("rules[2].run.ref[9]"), Some(30));
        assert_eq!(at("server.secret_key[0]"), Some(2), "not an array");
        assert_eq!(at("approvals.timeout"), None);
        assert_eq!(at("nothing"), None);
    }

    #[test]
    fn bad_paths_and_bad_text_have_no_line() {
        assert_eq!(line_of(FILE, ""), None);
        assert_eq!(line_of(FILE, "trust[x]"), None);
        assert_eq!(line_of(FILE, "trust..name"), None);
        assert_eq!(line_of("[server", "server"), None);
    }

    #[test]
    fn findings_print_with_file_and_line_sorted_by_line() {
        let findings = vec![
            Finding::warning("approvals.timeout", "not written", "write it"),
            Finding::error(
                "trust[1].claims.ref",
                "GitLab's ref is bare",
                "write ref = \"main\"",
            ),
            Finding::warning("trust[0].claims.enviroment", "no such claim", "environment"),
        ];
        let shown: Vec<String> = Located::all("hoop.toml", FILE, findings)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown,
            [
                "hoop.toml:8: warning: trust[0].claims.enviroment: no such claim\n  fix: environment",
                "hoop.toml:20: error: trust[1].claims.ref: GitLab's ref is bare\n  fix: write ref = \"main\"",
                "hoop.toml: warning: approvals.timeout: not written\n  fix: write it",
            ]
        );
    }

    #[test]
    fn quoted_steps_are_one_key() {
        assert_eq!(
            steps("claims.\"a.b\"[2]"),
            Some(vec![
                Step::Key("claims".into()),
                Step::Key("a.b".into()),
                Step::Index(2)
            ])
        );
    }
}
