//! A finding of `hoop config check` about a configuration that loads but does not say what its
//! author meant: a claim name no issuer sends, a pattern that can match nothing, a rule no
//! statement can reach. Each layer that owns a section lints it; `config` finds the line.

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The configuration works, but probably not as meant.
    Warning,
    /// The configuration cannot work as written (`config check` fails).
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One finding, at one key of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// The key at fault, as a path into the file: `rules[2].columns[0]`,
    /// `trust[0].claims.enviroment` (indices count from 0 within each array of tables).
    pub key: String,
    /// What is wrong, in one sentence.
    pub message: String,
    /// What to write instead.
    pub fix: String,
}

impl Finding {
    pub fn warning(
        key: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            severity: Severity::Warning,
            key: key.into(),
            message: message.into(),
            fix: fix.into(),
        }
    }

    pub fn error(
        key: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            severity: Severity::Error,
            ..Finding::warning(key, message, fix)
        }
    }
}
