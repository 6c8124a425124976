//! Claim matchers: exact, glob or anchored regex, over a claim's string form.

use globset::{Glob, GlobMatcher};
use regex::Regex;

use crate::trust::ClaimMatcherConfig;

/// A compiled claim condition.
#[derive(Debug, Clone)]
pub enum ClaimMatcher {
    Exact(String),
    Glob(GlobMatcher),
    /// Compiled as `^(?:pattern)$`: a rule author writing `prod` never means `preprod`.
    Regex(Regex),
}

/// Longest pattern accepted; keeps regex compilation and matching cheap and bounded.
const MAX_PATTERN_LEN: usize = 512;

impl ClaimMatcher {
    pub fn compile(config: &ClaimMatcherConfig) -> Result<ClaimMatcher, String> {
        Ok(match config {
            ClaimMatcherConfig::Exact(s) => ClaimMatcher::Exact(s.clone()),
            ClaimMatcherConfig::Number(n) => ClaimMatcher::Exact(n.to_string()),
            ClaimMatcherConfig::Bool(b) => ClaimMatcher::Exact(b.to_string()),
            ClaimMatcherConfig::Glob { glob } => {
                check_len(glob)?;
                let g = globset::GlobBuilder::new(glob)
                    .literal_separator(true)
                    .backslash_escape(true)
                    .build()
                    .map_err(|e| format!("invalid glob {glob:?}: {e}"))?;
                ClaimMatcher::Glob(Glob::compile_matcher(&g))
            }
            ClaimMatcherConfig::Regex { regex } => {
                check_len(regex)?;
                let anchored = format!("^(?:{regex})$");
                ClaimMatcher::Regex(
                    regex::RegexBuilder::new(&anchored)
                        .size_limit(1 << 20)
                        .build()
                        .map_err(|e| format!("invalid regex {regex:?}: {e}"))?,
                )
            }
        })
    }

    /// Matches a claim value. Strings match as they are, numbers and booleans by their JSON
    /// text; arrays, objects and null never match (a rule cannot be satisfied by structure).
    pub fn matches(&self, value: &serde_json::Value) -> bool {
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => return false,
        };
        match self {
            ClaimMatcher::Exact(s) => *s == text,
            ClaimMatcher::Glob(g) => g.is_match(&text),
            ClaimMatcher::Regex(r) => r.is_match(&text),
        }
    }
}

fn check_len(pattern: &str) -> Result<(), String> {
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(format!("pattern longer than {MAX_PATTERN_LEN} characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn glob(p: &str) -> ClaimMatcher {
        ClaimMatcher::compile(&ClaimMatcherConfig::Glob { glob: p.into() }).unwrap()
    }

    fn regex(p: &str) -> ClaimMatcher {
        ClaimMatcher::compile(&ClaimMatcherConfig::Regex { regex: p.into() }).unwrap()
    }

    #[test]
    fn glob_star_stays_within_a_path_segment() {
        assert!(glob("refs/heads/*").matches(&json!("refs/heads/main")));
        assert!(!glob("refs/heads/*").matches(&json!("refs/heads/feature/x")));
        assert!(glob("refs/heads/**").matches(&json!("refs/heads/feature/x")));
        assert!(!glob("acme/*").matches(&json!("acme-evil/payments")));
    }

    #[test]
    fn regexes_are_anchored() {
        assert!(regex("prod|staging").matches(&json!("staging")));
        assert!(!regex("prod").matches(&json!("preprod")));
        assert!(!regex("prod").matches(&json!("production")));
    }

    #[test]
    fn numbers_compare_by_text_and_structures_never_match() {
        let m = ClaimMatcher::compile(&ClaimMatcherConfig::Number(42)).unwrap();
        assert!(m.matches(&json!("42")) && m.matches(&json!(42)));
        assert!(!m.matches(&json!(["42"])) && !m.matches(&json!(null)));
        assert!(!regex(".*").matches(&json!({"a": 1})));
    }
}
