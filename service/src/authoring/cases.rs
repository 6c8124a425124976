//! The policy test file: what a run with given claims would get for a statement, case by case,
//! and the catalog facts the card-data model reads. See `docs/policy.md` § Testing a policy.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::catalog::RelationFact;
use crate::policy::rules::Action;

/// A policy test file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// What every case has unless it says otherwise.
    #[serde(default)]
    pub defaults: Defaults,
    /// What the upstream's catalog says (the card-data model follows views and column order);
    /// a relation not listed is unknown, and taken as written.
    #[serde(default)]
    pub catalog: Vec<RelationFact>,
    #[serde(default)]
    pub cases: Vec<Case>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub connection: Option<String>,
    /// `[[issuers]] name`: its kind (GitHub or GitLab) decides how the claims are read.
    pub issuer: Option<String>,
    /// Claims every case's token carries, under the case's own.
    #[serde(default)]
    pub claims: BTreeMap<String, toml::Value>,
}

/// One case: a run's claims, a connection and a statement text, and what should happen.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub connection: Option<String>,
    pub issuer: Option<String>,
    /// The run's id token claims (over `defaults.claims`).
    #[serde(default)]
    pub claims: BTreeMap<String, toml::Value>,
    /// The text a client sends (one Query or Parse message; several statements allowed).
    pub sql: String,
    pub expect: Expect,
    /// The rule that should decide (`default.*` for the pack, `default.card-data`...). For
    /// `allow` it is the allow rule, if one should match.
    pub rule: Option<String>,
}

/// What a case expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    Allow,
    Deny,
    Approve,
    /// The trust rules grant this run no credential for the connection.
    NotGranted,
}

impl Expect {
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Allow => "allow",
            Expect::Deny => "deny",
            Expect::Approve => "approve",
            Expect::NotGranted => "not-granted",
        }
    }

    pub fn of(action: Action) -> Expect {
        match action {
            Action::Allow => Expect::Allow,
            Action::Deny => Expect::Deny,
            Action::Approve => Expect::Approve,
        }
    }
}

/// A TOML value as the JSON an id token would carry.
pub fn claim_json(value: &toml::Value) -> Result<serde_json::Value, String> {
    Ok(match value {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(claim_json).collect::<Result<_, _>>()?)
        }
        toml::Value::Float(_) | toml::Value::Datetime(_) | toml::Value::Table(_) => {
            return Err("id token claims are strings, integers, booleans or arrays".into());
        }
    })
}
