//! A recording as a readable transcript: a header (who, which run, when, how it ended), then one
//! line per event (time, what the client sent or the database answered, the policy decision).
//!
//! Pure: JSONL bytes in, text out. Every event is shown, unknown kinds too (as their fields), so
//! the transcript never hides a line of the evidence; `hoop archive replay` prints it. The text
//! is the recording's, already masked by the gateway; control, bidirectional, zero-width and
//! other invisible characters in it are escaped ([`crate::display`]), because a recorded
//! statement is client input and must not be able to rewrite the auditor's terminal or read
//! differently from what ran.

use std::fmt::{self, Write as _};
use std::io::Read as _;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use super::ArchiveError;
use super::bundle::{EndState, Manifest};

/// Width of the label column, so statement texts line up.
const LABEL_WIDTH: usize = 10;
/// Column where an event's text starts: `HH:MM:SS.mmm`, two spaces, the label, a space.
const TEXT_COLUMN: usize = 12 + 2 + LABEL_WIDTH + 1;

/// The recording of a `.jsonl.zst` object, inflating at most `limit` bytes (a manifest's
/// `bytes`): more than that is an error, so a crafted object cannot exhaust memory.
pub fn decompress_recording(object: &[u8], limit: u64) -> Result<Vec<u8>, ArchiveError> {
    let compression = |source| ArchiveError::Compression { source };
    let decoder = zstd::stream::read::Decoder::new(object).map_err(compression)?;
    let mut out = Vec::new();
    decoder
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(compression)?;
    if out.len() as u64 > limit {
        return Err(ArchiveError::Document {
            what: "recording object",
            reason: format!("it inflates to more than {limit} bytes"),
        });
    }
    Ok(out)
}

/// A recording rendered for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transcript {
    pub header: Vec<(&'static str, String)>,
    pub lines: Vec<TranscriptLine>,
}

/// One event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranscriptLine {
    /// The event's `seq`, when the line is an event at all.
    pub seq: Option<u64>,
    /// The UTC day of the event, to mark a session that runs past midnight.
    pub day: Option<NaiveDate>,
    /// `HH:MM:SS.mmm`, UTC.
    pub time: String,
    pub label: String,
    /// Printable text; a multi-line statement keeps its line breaks.
    pub text: String,
}

impl Transcript {
    /// The transcript of `jsonl`. With the archive's `manifest`, the header states what the
    /// manifest states (identity, times, end state: the signed facts); without it, what the
    /// first and last events say. A line that is not a JSON object is shown as unreadable.
    pub fn new(jsonl: &[u8], manifest: Option<&Manifest>) -> Transcript {
        let body = jsonl.strip_suffix(b"\n").unwrap_or(jsonl);
        let events: Vec<Option<Map<String, Value>>> = if body.is_empty() {
            Vec::new()
        } else {
            body.split(|&b| b == b'\n')
                .map(|line| match serde_json::from_slice(line) {
                    Ok(Value::Object(map)) => Some(map),
                    _ => None,
                })
                .collect()
        };
        let lines = events
            .iter()
            .enumerate()
            .map(|(i, event)| match event {
                Some(event) => line_of(event),
                None => TranscriptLine {
                    seq: None,
                    day: None,
                    time: "??:??:??.???".to_owned(),
                    label: "unreadable".to_owned(),
                    text: format!("line {} is not a JSON event", i + 1),
                },
            })
            .collect();
        let first = events.first().cloned().flatten().unwrap_or_default();
        let last = events.last().cloned().flatten().unwrap_or_default();
        Transcript {
            header: header(&first, &last, events.len(), manifest),
            lines,
        }
    }
}

impl fmt::Display for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, value) in &self.header {
            writeln!(f, "{name:<10}  {value}")?;
        }
        writeln!(f)?;
        let mut day = self.lines.first().and_then(|l| l.day);
        for line in &self.lines {
            if line.day.is_some() && line.day != day {
                day = line.day;
                if let Some(d) = day {
                    writeln!(f, "-- {d} --")?;
                }
            }
            let indent = format!("\n{:TEXT_COLUMN$}", "");
            writeln!(
                f,
                "{}  {:<LABEL_WIDTH$} {}",
                line.time,
                line.label,
                line.text.replace('\n', &indent)
            )?;
        }
        Ok(())
    }
}

fn header(
    first: &Map<String, Value>,
    last: &Map<String, Value>,
    events: usize,
    manifest: Option<&Manifest>,
) -> Vec<(&'static str, String)> {
    let start = kind_of(first) == "session_start";
    let from_start = |name: &str| start.then(|| text(first, name)).flatten();
    let (session, identity) = match manifest {
        Some(m) => (Some(m.session_id.to_string()), m.identity.clone()),
        None => (
            from_start("session_id"),
            super::SessionIdentity {
                repository: from_start("repository"),
                run_id: from_start("run_id"),
                credential_id: from_start("credential_id"),
                connection: from_start("connection"),
                database: from_start("database"),
                username: from_start("username"),
                trust_rule: from_start("trust_rule"),
            },
        ),
    };
    let shown = |v: Option<String>| v.map_or_else(|| "-".to_owned(), |s| printable(&s));
    let mut header = vec![("session", shown(session))];
    header.push((
        "run",
        format!(
            "{} of {} (trust rule {})",
            shown(identity.run_id),
            shown(identity.repository),
            shown(identity.trust_rule)
        ),
    ));
    header.push((
        "user",
        format!(
            "{} on connection {}, database {}",
            shown(identity.username),
            shown(identity.connection),
            shown(identity.database)
        ),
    ));
    if start {
        let tls = match first.get("tls") {
            Some(Value::Bool(true)) => "TLS",
            Some(Value::Bool(false)) => "no TLS",
            _ => "TLS unknown",
        };
        let mut client = format!("{}, {tls}", shown(text(first, "client_addr")));
        if let Some(app) = text(first, "application_name").filter(|a| !a.is_empty()) {
            let _ = write!(client, ", application {}", printable(&app));
        }
        header.push(("client", client));
    }
    let ts = |event: &Map<String, Value>| text(event, "ts");
    let (started, ended) = match manifest {
        Some(m) => (m.started_at.clone(), m.ended_at.clone()),
        None => (shown(ts(first)), shown(ts(last))),
    };
    header.push(("started", printable(&started)));
    header.push(("ended", printable(&ended)));
    let end = match manifest {
        Some(m) => match m.end_state {
            EndState::Ended => "ended".to_owned(),
            EndState::Terminated => {
                "terminated (cut short; closed by recovery or not at all)".to_owned()
            }
        },
        None => match kind_of(last) {
            "session_end" => format!("last event session_end ({})", shown(text(last, "reason"))),
            "" => "the last line is not an event (no session_end: cut short)".to_owned(),
            other => format!(
                "last event {} (no session_end: cut short)",
                printable(other)
            ),
        },
    };
    header.push(("end state", end));
    header.push(("events", events.to_string()));
    if let Some(m) = manifest {
        header.push((
            "sealed",
            format!(
                "{} by replica {}, key {}",
                printable(&m.sealed_at),
                m.replica,
                m.key_id
            ),
        ));
    }
    header
}

fn line_of(event: &Map<String, Value>) -> TranscriptLine {
    let time = text(event, "ts").and_then(|ts| parse_ts(&ts));
    let kind = kind_of(event);
    let (label, text) = describe(kind, event);
    TranscriptLine {
        seq: event.get("seq").and_then(Value::as_u64),
        day: time.map(|t| t.date_naive()),
        time: time.map_or_else(
            || "??:??:??.???".to_owned(),
            |t| t.format("%H:%M:%S%.3f").to_string(),
        ),
        label,
        text,
    }
}

/// The label and text of one event, by the gateway's event kinds
/// (`docs/recording-format.md`); an unknown kind shows all its fields.
fn describe(kind: &str, e: &Map<String, Value>) -> (String, String) {
    let field = |name: &str| text(e, name).map(|s| printable(&s)).unwrap_or_default();
    let label = |l: &str| l.to_owned();
    match kind {
        "session_start" => (
            label("start"),
            format!(
                "{} on {}/{}, run {} of {}, from {}{}",
                field("username"),
                field("connection"),
                field("database"),
                field("run_id"),
                field("repository"),
                field("client_addr"),
                // Recordings made before the field existed were `statement`'s.
                match field("durability").as_str() {
                    "" => String::new(),
                    durability => format!(", records durable by {durability}"),
                }
            ),
        ),
        "statement" => (label("statement"), decided(field("sql"), e)),
        "parse" => {
            let name = field("statement");
            let text = if name.is_empty() {
                field("sql")
            } else {
                format!("{} (prepared as \"{name}\")", field("sql"))
            };
            (label("parse"), decided(text, e))
        }
        "bind" => {
            let params = e.get("params").map(compact).unwrap_or_default();
            (
                label("bind"),
                format!(
                    "portal \"{}\" of statement \"{}\", params {params}",
                    field("portal"),
                    field("statement")
                ),
            )
        }
        "execute" => {
            let max = e.get("max_rows").and_then(Value::as_u64).unwrap_or(0);
            let limit = if max > 0 {
                format!(" (at most {max} rows)")
            } else {
                String::new()
            };
            (
                label("execute"),
                format!("portal \"{}\"{limit}", field("portal")),
            )
        }
        "function_call" => (
            label("call"),
            decided(
                format!(
                    "function oid {}",
                    e.get("function_oid").map(compact).unwrap_or_default()
                ),
                e,
            ),
        ),
        "copy_in_end" => {
            let done = matches!(e.get("completed"), Some(Value::Bool(true)));
            (
                label("copy in"),
                format!(
                    "{} bytes, {}",
                    e.get("bytes").map(compact).unwrap_or_default(),
                    if done { "completed" } else { "aborted" }
                ),
            )
        }
        "terminate" => (label("terminate"), "the client closed the session".into()),
        "complete" => (label("complete"), field("tag")),
        "error" | "notice" => {
            let mut text = format!("{} {}", field("sqlstate"), field("message"));
            for (name, shown) in [("detail", ""), ("hint", "hint: "), ("where", "where: ")] {
                let value = field(name);
                if !value.is_empty() {
                    let _ = write!(text, "; {shown}{value}");
                }
            }
            (label(kind), text)
        }
        "notification" => (
            label("notify"),
            format!(
                "channel {}, {} bytes",
                field("channel"),
                e.get("payload_bytes").map(compact).unwrap_or_default()
            ),
        ),
        "parameter_status" => (
            label("setting"),
            format!("{} = {}", field("name"), field("value")),
        ),
        "masked" => (label("masked"), masked(e)),
        "copy_out_refused" => (
            label("refused"),
            format!("COPY TO STDOUT: {}", field("reason")),
        ),
        "approval_requested" => (
            label("held"),
            format!(
                "approval {} requested (rule {})",
                field("approval_id"),
                field("rule")
            ),
        ),
        "approval" => (label("approval"), approval(e)),
        "policy" => (
            label("policy"),
            format!("statements decided by configuration {}", field("version")),
        ),
        "terminated" => (
            label("terminated"),
            match e.get("noticed_at").and_then(Value::as_str) {
                Some(noticed) => format!(
                    "{}; the end is inferred from the last durable event (noticed at {noticed})",
                    field("reason")
                ),
                None => field("reason"),
            },
        ),
        "session_end" => {
            let mut text = field("reason");
            if let (Some(s), Some(n)) = (e.get("statements"), e.get("errors")) {
                let _ = write!(text, " ({} statements, {} errors)", compact(s), compact(n));
            }
            (label("end"), text)
        }
        other => {
            let fields: Map<String, Value> = e
                .iter()
                .filter(|(k, _)| !crate::recording::RESERVED_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            (printable(other), compact(&Value::Object(fields)))
        }
    }
}

/// `text [decision: rule]`, as the policy recorded it.
fn decided(text: String, e: &Map<String, Value>) -> String {
    let Some(decision) = self::text(e, "decision") else {
        return text;
    };
    match self::text(e, "rule").filter(|r| !r.is_empty()) {
        Some(rule) => format!("{text}  [{}: {}]", printable(&decision), printable(&rule)),
        None => format!("{text}  [{}]", printable(&decision)),
    }
}

fn masked(e: &Map<String, Value>) -> String {
    let Some(Value::Array(columns)) = e.get("columns") else {
        return compact(&Value::Object(e.clone()));
    };
    let parts: Vec<String> = columns
        .iter()
        .map(|c| {
            let get = |name: &str| match c.get(name) {
                Some(Value::String(s)) => printable(s),
                Some(v) => compact(v),
                None => "?".to_owned(),
            };
            format!(
                "{}: {} values by {}",
                get("column"),
                get("values"),
                get("by")
            )
        })
        .collect();
    parts.join("; ")
}

fn approval(e: &Map<String, Value>) -> String {
    let field = |name: &str| text(e, name).map(|s| printable(&s)).unwrap_or_default();
    let outcome = field("outcome");
    let mut out = outcome.clone();
    let by = field("by");
    if !by.is_empty() {
        let _ = write!(out, " by {by}");
    }
    let scope = field("scope");
    if !scope.is_empty() {
        let _ = write!(out, " ({scope})");
    }
    let id = field("approval_id");
    if !id.is_empty() {
        let _ = write!(out, ", approval {id}");
    }
    for name in ["comment", "error"] {
        let value = field(name);
        if !value.is_empty() {
            let _ = write!(out, ": {value}");
        }
    }
    out
}

fn kind_of(event: &Map<String, Value>) -> &str {
    event.get("kind").and_then(Value::as_str).unwrap_or("")
}

/// A member as text: a string as written, another value as its JSON text.
fn text(event: &Map<String, Value>, name: &str) -> Option<String> {
    match event.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn compact(value: &Value) -> String {
    printable(&value.to_string())
}

fn parse_ts(ts: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `s` safe to print on a terminal: line breaks and tabs kept, every character that does not
/// show as itself (controls, bidirectional and zero-width characters, ...) escaped as `\u{…}`
/// by the one rule approvers' screens use too ([`crate::display`]).
fn printable(s: &str) -> String {
    crate::display::text(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jsonl(lines: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for l in lines {
            out.extend_from_slice(l.as_bytes());
            out.push(b'\n');
        }
        out
    }

    const START: &str = r#"{"seq":0,"ts":"2026-11-25T10:04:05.123456Z","kind":"session_start","session_id":"s-1","credential_id":"c-1","username":"run-4242-1-k3x9qa","connection":"shop","database":"shop","trust_rule":"main-deploys","repository":"acme/shop","run_id":"4242","client_addr":"10.0.0.7","tls":true,"application_name":"psql","prev":"00"}"#;

    fn rendered(lines: &[&str]) -> String {
        Transcript::new(&jsonl(lines), None).to_string()
    }

    #[test]
    fn the_header_names_the_session_and_its_run() {
        let t = Transcript::new(
            &jsonl(&[
                START,
                r#"{"seq":1,"ts":"2026-11-25T10:04:06.000000Z","kind":"session_end","reason":"client terminated","statements":1,"errors":0,"prev":"00"}"#,
            ]),
            None,
        );
        let header: Vec<String> = t.header.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        assert_eq!(
            header,
            [
                "session: s-1",
                "run: 4242 of acme/shop (trust rule main-deploys)",
                "user: run-4242-1-k3x9qa on connection shop, database shop",
                "client: 10.0.0.7, TLS, application psql",
                "started: 2026-11-25T10:04:05.123456Z",
                "ended: 2026-11-25T10:04:06.000000Z",
                "end state: last event session_end (client terminated)",
                "events: 2",
            ]
        );
        assert_eq!(
            t.lines[1].to_owned(),
            TranscriptLine {
                seq: Some(1),
                day: NaiveDate::from_ymd_opt(2026, 11, 25),
                time: "10:04:06.000".into(),
                label: "end".into(),
                text: "client terminated (1 statements, 0 errors)".into(),
            }
        );
    }

    #[test]
    fn statements_show_their_decision_and_completions_their_tag() {
        let out = rendered(&[
            START,
            r#"{"seq":1,"ts":"2026-11-25T10:04:05.200000Z","kind":"statement","protocol":"simple","sql":"SELECT pan FROM cards","decision":"allow","rule":"","prev":"00"}"#,
            r#"{"seq":2,"ts":"2026-11-25T10:04:05.201000Z","kind":"masked","columns":[{"column":"pan","values":2,"by":"pan"}],"prev":"00"}"#,
            r#"{"seq":3,"ts":"2026-11-25T10:04:05.202000Z","kind":"complete","tag":"SELECT 2","prev":"00"}"#,
            r#"{"seq":4,"ts":"2026-11-25T10:04:05.300000Z","kind":"statement","protocol":"simple","sql":"DROP TABLE cards","decision":"deny","rule":"protect-cards","prev":"00"}"#,
            r#"{"seq":5,"ts":"2026-11-25T10:04:05.301000Z","kind":"error","sqlstate":"42501","message":"refused by hoop","detail":"rule protect-cards","hint":"ask","prev":"00"}"#,
        ]);
        let body: Vec<&str> = out.lines().skip_while(|l| !l.is_empty()).skip(1).collect();
        assert_eq!(
            body,
            [
                "10:04:05.123  start      run-4242-1-k3x9qa on shop/shop, run 4242 of acme/shop, from 10.0.0.7",
                "10:04:05.200  statement  SELECT pan FROM cards  [allow]",
                "10:04:05.201  masked     pan: 2 values by pan",
                "10:04:05.202  complete   SELECT 2",
                "10:04:05.300  statement  DROP TABLE cards  [deny: protect-cards]",
                "10:04:05.301  error      42501 refused by hoop; rule protect-cards; hint: ask",
            ]
        );
    }

    #[test]
    fn the_start_names_the_durability_its_records_were_made_under() {
        let start = START.replace(r#""tls":true,"#, r#""tls":true,"durability":"result","#);
        let out = rendered(&[start.as_str()]);
        assert!(
            out.contains("from 10.0.0.7, records durable by result"),
            "{out}"
        );
    }

    #[test]
    fn approvals_and_the_extended_protocol_are_shown() {
        let out = rendered(&[
            START,
            r#"{"seq":1,"ts":"2026-11-25T10:05:00.000000Z","kind":"parse","statement":"s1","sql":"ALTER TABLE payments ADD note text","decision":"approve","rule":"payments-migrations","prev":"00"}"#,
            r#"{"seq":2,"ts":"2026-11-25T10:05:00.001000Z","kind":"approval_requested","approval_id":"a-1","rule":"payments-migrations","prev":"00"}"#,
            r#"{"seq":3,"ts":"2026-11-25T10:06:00.000000Z","kind":"approval","approval_id":"a-1","outcome":"approved","by":"lead","scope":"once","prev":"00"}"#,
            r#"{"seq":4,"ts":"2026-11-25T10:06:00.001000Z","kind":"bind","portal":"","statement":"s1","params":["42"],"prev":"00"}"#,
            r#"{"seq":5,"ts":"2026-11-25T10:06:00.002000Z","kind":"execute","portal":"","max_rows":0,"prev":"00"}"#,
            r#"{"seq":6,"ts":"2026-11-25T10:06:00.003000Z","kind":"approval","outcome":"denied","approval_id":"a-2","by":"lead","comment":"not today","prev":"00"}"#,
            r#"{"seq":7,"ts":"2026-11-25T10:06:00.004000Z","kind":"parameter_status","name":"application_name","value":"card 411111******1111","prev":"00"}"#,
            r#"{"seq":8,"ts":"2026-11-25T10:06:00.005000Z","kind":"policy","version":"a49236d7a2eed8835d3a41c48cff942fee04cde8c527aeb1acadb952c1ba3895","prev":"00"}"#,
        ]);
        for expected in [
            "parse      ALTER TABLE payments ADD note text (prepared as \"s1\")  [approve: payments-migrations]",
            "held       approval a-1 requested (rule payments-migrations)",
            "approval   approved by lead (once), approval a-1",
            "bind       portal \"\" of statement \"s1\", params [\"42\"]",
            "execute    portal \"\"",
            "approval   denied by lead, approval a-2: not today",
            "setting    application_name = card 411111******1111",
            "policy     statements decided by configuration a49236d7a2eed8835d3a41c48cff942fee04cde8c527aeb1acadb952c1ba3895",
        ] {
            assert!(out.contains(expected), "{expected}\n{out}");
        }
    }

    #[test]
    fn unknown_kinds_and_broken_lines_are_shown_not_dropped() {
        let out = rendered(&[
            START,
            r#"{"seq":1,"ts":"2026-11-25T10:04:05.200000Z","kind":"future_kind","x":1,"prev":"00"}"#,
            "not json",
        ]);
        assert!(out.contains("10:04:05.200  future_kind {\"x\":1}"), "{out}");
        assert!(
            out.contains("??:??:??.???  unreadable line 3 is not a JSON event"),
            "{out}"
        );
        assert!(
            out.contains("end state   the last line is not an event (no session_end: cut short)"),
            "{out}"
        );
    }

    #[test]
    fn multi_line_statements_are_indented_and_controls_escaped() {
        let out = rendered(&[
            START,
            r#"{"seq":1,"ts":"2026-11-25T10:04:05.200000Z","kind":"statement","sql":"SELECT 1\nFROM t -- \u001b[2J\u202e\u200b\u2028\udb40\udc41","decision":"allow","prev":"00"}"#,
        ]);
        assert!(
            out.contains(
                "10:04:05.200  statement  SELECT 1\n                         FROM t -- \\u{1b}[2J\\u{202e}\\u{200b}\\u{2028}\\u{e0041}  [allow]"
            ),
            "{out}"
        );
        assert!(!out.contains('\u{1b}'));
    }

    #[test]
    fn a_session_past_midnight_marks_the_new_day() {
        let out = rendered(&[
            r#"{"seq":0,"ts":"2026-11-25T23:59:59.999000Z","kind":"session_start","prev":"00"}"#,
            r#"{"seq":1,"ts":"2026-11-26T00:00:00.001000Z","kind":"complete","tag":"SELECT 1","prev":"00"}"#,
        ]);
        assert!(
            out.contains("-- 2026-11-26 --\n00:00:00.001  complete   SELECT 1"),
            "{out}"
        );
    }

    #[test]
    fn decompression_stops_at_the_limit() {
        let object = zstd::stream::encode_all(&b"0123456789"[..], 3).unwrap();
        assert_eq!(decompress_recording(&object, 10).unwrap(), b"0123456789");
        assert!(decompress_recording(&object, 9).is_err());
        assert!(decompress_recording(b"not zstd", 10).is_err());
    }
}
