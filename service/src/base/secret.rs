//! Secrets in configuration: given inline, from an environment variable, or from a file.
//!
//! Architecture Invariant: a [`Secret`] never prints its value; `Debug` and `Display` show
//! `[redacted]`, so a secret cannot reach a log line through formatting.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

/// Where a secret value comes from. Inline values are accepted (a local URL without a password
/// is not secret), but `env` and `file` mean the configuration file itself holds no secret.
#[derive(Clone, Deserialize)]
#[serde(untagged)]
pub enum SecretSource {
    Inline(String),
    Env { env: String },
    File { file: PathBuf },
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Inline(_) => f.write_str("SecretSource::Inline([redacted])"),
            SecretSource::Env { env } => write!(f, "SecretSource::Env({env})"),
            SecretSource::File { file } => write!(f, "SecretSource::File({})", file.display()),
        }
    }
}

/// Where a secret is looked up; tests feed a map instead of the process environment.
pub trait SecretEnv {
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl SecretEnv for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<S: std::hash::BuildHasher> SecretEnv for std::collections::HashMap<String, String, S> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Why a secret could not be read. Names the source (variable or path), never a value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    MissingVariable(String),
    #[error("cannot read secret file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the secret is empty")]
    Empty,
}

impl SecretSource {
    /// Where the secret comes from, for messages: the file's path, the variable's name, or
    /// `inline`. Never the value.
    pub fn origin(&self) -> String {
        match self {
            SecretSource::Inline(_) => "inline".to_owned(),
            SecretSource::Env { env } => format!("environment variable {env}"),
            SecretSource::File { file } => file.display().to_string(),
        }
    }

    /// Reads the secret.
    pub fn resolve(&self, env: &dyn SecretEnv) -> Result<Secret, SecretError> {
        let value = match self {
            SecretSource::Inline(v) => v.clone(),
            SecretSource::Env { env: name } => env
                .var(name)
                .ok_or_else(|| SecretError::MissingVariable(name.clone()))?,
            SecretSource::File { file } => std::fs::read_to_string(file)
                .map_err(|source| SecretError::Unreadable {
                    path: file.clone(),
                    source,
                })?
                .trim_end_matches(['\n', '\r'])
                .to_owned(),
        };
        if value.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Secret(value))
    }
}

/// A secret value held in memory. Read it with [`Secret::expose`] only where it is used.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn secrets_never_format_their_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "[redacted] [redacted]");
        let src = SecretSource::Inline("hunter2".into());
        assert!(!format!("{src:?}").contains("hunter2"));
        assert_eq!(src.origin(), "inline");
    }

    #[test]
    fn env_source_reads_the_map_and_names_a_missing_variable() {
        let env = HashMap::from([("A".to_string(), "x".to_string())]);
        let ok = SecretSource::Env { env: "A".into() }.resolve(&env).unwrap();
        assert_eq!(ok.expose(), "x");
        let err = SecretSource::Env { env: "B".into() }
            .resolve(&env)
            .unwrap_err();
        assert!(
            matches!(&err, SecretError::MissingVariable(v) if v == "B"),
            "{err}"
        );
    }
}
