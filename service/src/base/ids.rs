//! Identifiers, each a type of its own and valid from the moment it exists: the field is
//! private, so the only ways in are the checked constructors. A session id in a file name, an
//! object key and a database row is one type with one spelling.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A value that is not a valid identifier of its kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is not valid: {rule}")]
pub struct IdError {
    pub what: &'static str,
    /// The value, escaped (it may be anyone's text).
    pub value: String,
    pub rule: &'static str,
}

impl IdError {
    pub(crate) fn new(what: &'static str, value: &str, rule: &'static str) -> Self {
        IdError {
            what,
            value: value
                .chars()
                .take(80)
                .collect::<String>()
                .escape_default()
                .to_string(),
            rule,
        }
    }
}

const UUID_RULE: &str = "a UUID in lower-case hyphenated form";

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Uuid);

        impl $name {
            pub fn new_random() -> Self {
                $name(Uuid::new_v4())
            }

            /// From a UUID read from hoop's own state.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                $name(uuid)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// Only the canonical spelling (lower-case, hyphenated): one id, one text, so a
            /// second spelling can never name a second file or object.
            pub fn parse(text: &str) -> Result<Self, IdError> {
                match Uuid::try_parse(text) {
                    Ok(uuid) if uuid.hyphenated().to_string() == text => Ok($name(uuid)),
                    _ => Err(IdError::new($what, text, UUID_RULE)),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(text: String) -> Result<Self, IdError> {
                $name::parse(&text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }
    };
}

uuid_id!(
    /// One gateway session; also names its recording, its spool file and its archive objects.
    SessionId,
    "session id"
);
uuid_id!(
    /// A credential, in the API (`DELETE /v1/credentials/{id}`), audit events and recordings.
    CredentialId,
    "credential id"
);
uuid_id!(
    /// One approval request; what approvers type.
    ApprovalId,
    "approval id"
);

#[cfg(test)]
impl SessionId {
    /// A test's name for a session, as an id: the same name, the same id.
    pub(crate) fn named(name: &str) -> SessionId {
        let hash = super::hash::sha256(name.as_bytes());
        SessionId(Uuid::from_bytes(hash[..16].try_into().expect("16 bytes")))
    }
}

const NAME_RULE: &str =
    "use 1-63 characters of a-z, 0-9, '_' or '-', starting with a letter or '_'";

/// Names that end up in SQL, user names and object keys: a plain alphabet only.
fn is_plain_name(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 63
        && value.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && value
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
}

/// A validated name type: `$valid` decides, `$rule` says what is accepted. Private field,
/// checked in `new` and when deserialized; also used by the archive's `ReplicaName`.
macro_rules! name_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $valid:path, $rule:expr) => {
        $(#[$doc])*
        #[derive(
            Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize,
        )]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Result<Self, $crate::base::IdError> {
                let value = value.into();
                if $valid(&value) {
                    Ok($name(value))
                } else {
                    Err($crate::base::IdError::new($what, &value, $rule))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::base::IdError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                $name::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
pub(crate) use name_id;

name_id!(
    /// The name of a configured database connection (`[[connections]] name`).
    ConnectionName,
    "connection name",
    is_plain_name,
    NAME_RULE
);
name_id!(
    /// A database role name, as configured (`default_role`, a trust rule's `role`).
    DbRole,
    "role",
    is_plain_name,
    NAME_RULE
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_ids_have_one_spelling() {
        let id = SessionId::new_random();
        let text = id.to_string();
        assert_eq!(SessionId::parse(&text), Ok(id));
        for other in [
            text.to_uppercase(),
            text.replace('-', ""),
            format!("{{{text}}}"),
            format!("urn:uuid:{text}"),
            format!(" {text}"),
            "../x".into(),
            String::new(),
        ] {
            assert!(SessionId::parse(&other).is_err(), "{other:?}");
        }
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<SessionId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<CredentialId>("\"nope\"").is_err());
        assert_eq!(SessionId::from_uuid(id.as_uuid()), id);
    }

    #[test]
    fn names_are_a_plain_alphabet() {
        for ok in ["cards", "_x", "run-1-2", "a".repeat(63).as_str()] {
            assert_eq!(ConnectionName::new(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "Cards",
            "1x",
            "-x",
            "a b",
            "a;drop",
            "é",
            "a\0",
            "a".repeat(64).as_str(),
        ] {
            let e = DbRole::new(bad).unwrap_err();
            assert_eq!(e.what, "role");
            assert!(!e.to_string().contains('\0'), "{e}");
        }
        let parsed: ConnectionName = serde_json::from_str("\"cards\"").unwrap();
        assert_eq!(parsed.to_string(), "cards");
        assert!(serde_json::from_str::<ConnectionName>("\"Cards\"").is_err());
    }
}
