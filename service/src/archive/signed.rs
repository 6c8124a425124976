//! The signing envelope of manifests and digests: strict JSON, the canonical form, sign, open.
//!
//! A document is a JSON object with a `key_id` and a `signature` member. The signature is
//! Ed25519 over [`canonical_form`] of the object without `signature`. The canonical form is
//! RFC 8785 (JCS) restricted to what archive documents hold (integers of at most 53 bits, no
//! fractions), so any JCS library, or Python's `json.dumps(sort_keys=True,
//! separators=(",", ":"), ensure_ascii=False)`, produces the same bytes.

use std::collections::HashSet;
use std::fmt;

use serde::Serialize;
use serde::de::{self, Deserialize, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::ArchiveError;
use super::keys::{KeyId, KeyRing, Signature, SigningKey, UnsignedReason};

/// The member the signature is stored in; the only one the canonical form leaves out.
pub const SIGNATURE_FIELD: &str = "signature";

/// Largest integer every JSON implementation reads exactly (IEEE 754 doubles).
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A document with a signature in it.
pub(super) trait SignedDocument {
    fn key_id(&self) -> &KeyId;
    fn signature(&self) -> &Signature;
    fn sign_as(&mut self, key_id: KeyId, signature: Signature);
}

/// Implements [`SignedDocument`] for a document whose `key_id` and `signature` members are its
/// own fields (every archive document).
macro_rules! signed_document {
    ($document:ty) => {
        impl $crate::archive::signed::SignedDocument for $document {
            fn key_id(&self) -> &$crate::archive::KeyId {
                &self.key_id
            }

            fn signature(&self) -> &$crate::archive::Signature {
                &self.signature
            }

            fn sign_as(
                &mut self,
                key_id: $crate::archive::KeyId,
                signature: $crate::archive::Signature,
            ) {
                self.key_id = key_id;
                self.signature = signature;
            }
        }
    };
}
pub(super) use signed_document;

/// The bytes a document's signature covers: its members but `signature`, keys sorted (by
/// UTF-16 code units, as JCS says; archive keys are ASCII), no whitespace, strings escaped as
/// JSON requires and nothing more (`"`, `\`, control characters; `\b \t \n \f \r` in short
/// form, others as `\u00xx` lower-case), integers in decimal. A fraction, an exponent or an
/// integer beyond 2^53 − 1 is refused: implementations disagree on how to print them.
pub fn canonical_form(document: &Value) -> Result<Vec<u8>, ArchiveError> {
    let Value::Object(members) = document else {
        return Err(document_error("document", "not a JSON object"));
    };
    let mut out = Vec::with_capacity(1024);
    write_object(&mut out, members, true)?;
    Ok(out)
}

fn write_value(out: &mut Vec<u8>, value: &Value) -> Result<(), ArchiveError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            let safe = n
                .as_u64()
                .map(|u| u <= MAX_SAFE_INTEGER)
                .or_else(|| n.as_i64().map(|i| i.unsigned_abs() <= MAX_SAFE_INTEGER))
                .unwrap_or(false);
            if !safe {
                return Err(document_error(
                    "document",
                    "a number is not an integer of at most 53 bits",
                ));
            }
            out.extend_from_slice(n.to_string().as_bytes());
        }
        Value::String(s) => write_string(out, s)?,
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(members) => write_object(out, members, false)?,
    }
    Ok(())
}

fn write_object(
    out: &mut Vec<u8>,
    members: &Map<String, Value>,
    top: bool,
) -> Result<(), ArchiveError> {
    let mut keys: Vec<&String> = members
        .keys()
        .filter(|k| !(top && k.as_str() == SIGNATURE_FIELD))
        .collect();
    // Sorted here, not by the map: serde_json's `preserve_order` feature may be on.
    keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
    out.push(b'{');
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, key)?;
        out.push(b':');
        write_value(out, &members[key.as_str()])?;
    }
    out.push(b'}');
    Ok(())
}

/// serde_json escapes exactly the JCS set, with lower-case hex.
fn write_string(out: &mut Vec<u8>, s: &str) -> Result<(), ArchiveError> {
    serde_json::to_writer(&mut *out, s).map_err(|source| ArchiveError::Encode { source })
}

/// Signs `document` with `key`: sets its key id, signs its canonical form, and returns the bytes
/// to store (pretty-printed, members in the document's own order, final newline).
pub(super) fn seal<T: SignedDocument + Serialize>(
    document: &mut T,
    key: &SigningKey,
) -> Result<Vec<u8>, ArchiveError> {
    let encode = |source| ArchiveError::Encode { source };
    document.sign_as(key.key_id().clone(), Signature([0; 64]));
    let value = serde_json::to_value(&*document).map_err(encode)?;
    let signature = key.sign(&canonical_form(&value)?);
    document.sign_as(key.key_id().clone(), signature);
    let mut bytes = serde_json::to_vec_pretty(&*document).map_err(encode)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// A stored document, parsed, with the bytes its signature covers.
pub(super) struct Opened<T> {
    pub document: T,
    canonical: Vec<u8>,
}

impl<T: SignedDocument> Opened<T> {
    /// Whether a pinned key made the document's signature.
    pub fn check(&self, keys: &KeyRing) -> Result<(), UnsignedReason> {
        keys.check(
            self.document.key_id(),
            &self.canonical,
            self.document.signature(),
        )
    }
}

/// Parses a stored document of `format`: strict JSON (no duplicate member anywhere), the right
/// `format` string, every member known and well-formed. The signature is not checked here.
pub(super) fn open<T: DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
    format: &str,
) -> Result<Opened<T>, ArchiveError> {
    let value = parse_strict(bytes).map_err(|reason| document_error(what, reason))?;
    match value.get("format").and_then(Value::as_str) {
        Some(found) if found == format => {}
        Some(found) => {
            return Err(document_error(
                what,
                format!(
                    "its format is `{}`, this hoop reads `{format}` (a newer hoop wrote it?)",
                    found.escape_default()
                ),
            ));
        }
        None => return Err(document_error(what, "no `format` member")),
    }
    let canonical = canonical_form(&value).map_err(|e| match e {
        ArchiveError::Document { reason, .. } => document_error(what, reason),
        other => other,
    })?;
    let document =
        serde_json::from_value(value).map_err(|e| document_error(what, e.to_string()))?;
    Ok(Opened {
        document,
        canonical,
    })
}

fn document_error(what: &'static str, reason: impl Into<String>) -> ArchiveError {
    ArchiveError::Document {
        what,
        reason: reason.into(),
    }
}

/// JSON with no duplicate member in any object: parsers disagree on which duplicate wins, so a
/// document with one could mean one thing to hoop and another to an auditor's tool.
pub(super) fn parse_strict(bytes: &[u8]) -> Result<Value, String> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let StrictValue(value) =
        StrictValue::deserialize(&mut deserializer).map_err(|e| e.to_string())?;
    deserializer.end().map_err(|e| e.to_string())?;
    Ok(value)
}

struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!(
                    "duplicate member `{}`",
                    key.escape_default()
                )));
            }
            let StrictValue(value) = map.next_value()?;
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canonical(v: Value) -> String {
        String::from_utf8(canonical_form(&v).unwrap()).unwrap()
    }

    #[test]
    fn canonical_form_table() {
        let cases = [
            (json!({}), "{}"),
            (json!({"signature": "x"}), "{}"),
            (
                json!({"b": 1, "a": [true, null, -3]}),
                r#"{"a":[true,null,-3],"b":1}"#,
            ),
            (
                json!({"a": {"signature": 1, "Z": 2}}),
                r#"{"a":{"Z":2,"signature":1}}"#,
            ),
            (
                json!({"s": "é/\u{7f}\"\\\n\t\u{1}\u{1f}"}),
                "{\"s\":\"é/\u{7f}\\\"\\\\\\n\\t\\u0001\\u001f\"}",
            ),
            (
                json!({"n": 9007199254740991u64}),
                r#"{"n":9007199254740991}"#,
            ),
            // UTF-16 order puts U+FF61 after U+1F600 (a surrogate pair starts at 0xD83D).
            (
                json!({"\u{ff61}": 1, "\u{1f600}": 2}),
                "{\"\u{1f600}\":2,\"\u{ff61}\":1}",
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(canonical(value), expected);
        }
        for bad in [
            json!({"n": 1.5}),
            json!({"n": 9007199254740992u64}),
            json!([1]),
        ] {
            assert!(canonical_form(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn strict_parsing_refuses_duplicates_at_any_depth() {
        assert!(parse_strict(br#"{"a":1,"a":1}"#).is_err());
        assert!(parse_strict(br#"{"a":{"b":1,"b":2}}"#).is_err());
        assert!(parse_strict(br#"{"a":[{"b":1,"b":2}]}"#).is_err());
        assert!(parse_strict(br#"{"a":1} x"#).is_err());
        let v = parse_strict(br#" {"a":[1,-2,"x",null,{"b":false}]} "#).unwrap();
        assert_eq!(v, json!({"a":[1,-2,"x",null,{"b":false}]}));
    }

    proptest::proptest! {
        /// Whatever order and whitespace a document is stored with, its canonical form is the
        /// same, and parsing the canonical form gives the document back.
        #[test]
        fn canonical_form_ignores_storage_order(
            entries in proptest::collection::btree_map("[a-z_]{1,8}", "[ -~é\n]{0,12}", 0..8),
            pretty in proptest::bool::ANY,
        ) {
            let mut reversed = String::from("{");
            for (i, (k, v)) in entries.iter().rev().enumerate() {
                if i > 0 { reversed.push(','); }
                reversed.push_str(&serde_json::to_string(k).unwrap());
                reversed.push_str(if pretty { " : " } else { ":" });
                reversed.push_str(&serde_json::to_string(v).unwrap());
            }
            reversed.push('}');
            let stored = parse_strict(reversed.as_bytes()).unwrap();
            let canonical = canonical_form(&stored).unwrap();
            let direct = serde_json::to_value(&entries).unwrap();
            proptest::prop_assert_eq!(&canonical, &canonical_form(&direct).unwrap());
            let mut without_signature = direct.clone();
            without_signature.as_object_mut().unwrap().remove(SIGNATURE_FIELD);
            proptest::prop_assert_eq!(parse_strict(&canonical).unwrap(), without_signature);
        }
    }
}
