//! `hoop approvals`: the approver's side of held statements, against a running hoop's API.
//!
//! The approver token comes from `HOOP_APPROVER_TOKEN` or `--token-file`, never from an
//! argument (arguments show in `ps`).

use crate::cli::table::Table;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::base::Secret;

#[derive(Args)]
pub struct ApprovalsArgs {
    /// The hoop API's base URL.
    #[arg(
        long,
        global = true,
        env = "HOOP_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,
    /// A file holding the approver token (default: the HOOP_APPROVER_TOKEN variable).
    #[arg(long, global = true)]
    token_file: Option<PathBuf>,
    #[command(subcommand)]
    command: ApprovalsCommand,
}

#[derive(Subcommand)]
enum ApprovalsCommand {
    /// Approvals, newest first (pending ones by default).
    List {
        /// pending, approved, denied, expired, withdrawn or all.
        #[arg(long, default_value = "pending")]
        state: String,
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One approval: the held statement, its run and rule.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Let the held statement run.
    Approve {
        id: String,
        /// Also let every statement with the same fingerprint run for the rest of the run
        /// (constants may differ; names may not).
        #[arg(long)]
        for_run: bool,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Refuse the held statement; the client gets an error.
    Deny {
        id: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Make a new approver token and the hash that goes into [[approvals.approvers]].
    Token,
}

pub async fn run(args: ApprovalsArgs) -> anyhow::Result<()> {
    if let ApprovalsCommand::Token = args.command {
        let (token, hash) = crate::approvals::new_token();
        outln!(
            "token (give it to the approver; it is not shown again):\n  {}",
            token.expose()
        );
        outln!(
            "configuration:\n  [[approvals.approvers]]\n  name = \"...\"\n  token_sha256 = \"{hash}\"\n  \
             github_id = ...   # the approver's numeric GitHub user id (gh api users/<login> --jq .id)\n  \
             gitlab_id = ...   # and/or their numeric GitLab user id"
        );
        return Ok(());
    }
    let token = approver_token(args.token_file.as_deref())?;
    let api = Api {
        base: args.url.trim_end_matches('/').to_owned(),
        token,
        http: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()?,
    };
    match args.command {
        ApprovalsCommand::List { state, json } => {
            let state = url::form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>();
            let body = api.get(&format!("/v1/approvals?state={state}")).await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&body)?);
            } else {
                print_table(
                    body["approvals"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or_default(),
                );
            }
        }
        ApprovalsCommand::Show { id, json } => {
            let id = approval_id(&id)?;
            let body = api.get(&format!("/v1/approvals/{id}")).await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&body)?);
            } else {
                print_one(&body);
            }
        }
        ApprovalsCommand::Approve {
            id,
            for_run,
            comment,
        } => {
            let id = approval_id(&id)?;
            let scope = if for_run { "run" } else { "once" };
            let body = api
                .post(
                    &format!("/v1/approvals/{id}/approve"),
                    json!({"scope": scope, "comment": comment}),
                )
                .await?;
            outln!(
                "approved {id} ({}): the statement runs",
                body["scope"].as_str().unwrap_or(scope)
            );
        }
        ApprovalsCommand::Deny { id, comment } => {
            let id = approval_id(&id)?;
            api.post(
                &format!("/v1/approvals/{id}/deny"),
                json!({"comment": comment}),
            )
            .await?;
            outln!("denied {id}: the client gets an error");
        }
        ApprovalsCommand::Token => unreachable!("handled above"),
    }
    Ok(())
}

/// An approval id is a UUID; anything else never reaches a URL.
fn approval_id(id: &str) -> anyhow::Result<String> {
    uuid::Uuid::parse_str(id.trim())
        .map(|u| u.to_string())
        .map_err(|_| anyhow::anyhow!("{id:?} is not an approval id (a UUID)"))
}

fn approver_token(file: Option<&std::path::Path>) -> anyhow::Result<Secret> {
    let token = match file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the approver token from {}", path.display()))?,
        None => std::env::var("HOOP_APPROVER_TOKEN").map_err(|_| {
            anyhow::anyhow!("set HOOP_APPROVER_TOKEN (or pass --token-file) to an approver token")
        })?,
    };
    let token = token.trim();
    if token.is_empty() {
        bail!("the approver token is empty");
    }
    Ok(Secret::new(token))
}

struct Api {
    base: String,
    token: Secret,
    http: reqwest::Client,
}

impl Api {
    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let request = self.http.post(format!("{}{path}", self.base)).json(&body);
        self.send(request).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .bearer_auth(self.token.expose())
            .send()
            .await
            .with_context(|| format!("cannot reach hoop at {}", self.base))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let error = &body["error"];
            // The message can quote a run's actor or other claims: escaped like any field.
            bail!(
                "{} ({status}): {}",
                text(&error["code"]),
                error["message"]
                    .as_str()
                    .map_or("no message".into(), crate::display::line)
            );
        }
        Ok(body)
    }
}

/// A one-line field for the terminal. Every field but the id and times comes from a CI job or
/// its token: characters that do not show as themselves (controls, bidi overrides, zero-width
/// and other invisible characters, line separators) are shown escaped ([`crate::display`]),
/// whatever the server sent, so no text can hide, reorder or repaint what the approver reads.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => crate::display::line(s).into_owned(),
        Value::Null => "-".to_owned(),
        other => crate::display::line(&other.to_string()).into_owned(),
    }
}

/// A multi-line field (the statement): line breaks and tabs kept, everything else as [`text`].
fn block(v: &Value) -> String {
    match v {
        Value::String(s) => crate::display::text(s).into_owned(),
        other => text(other),
    }
}

/// One line per approval: id, state, rule, run, and the statement on one line, its middle
/// elided when it is long ([`statement_cell`]).
fn print_table(approvals: &[Value]) {
    if approvals.is_empty() {
        outln!("no approvals");
        return;
    }
    let mut table = Table::new(&["id", "state", "rule", "run", "statement"]);
    let mut elided = false;
    for a in approvals {
        let run = format!(
            "{}#{}",
            text(&a["run"]["repository"]),
            text(&a["run"]["run_id"])
        );
        let statement = match &a["statement"] {
            Value::String(s) => {
                let (cell, cut) = statement_cell(s);
                elided |= cut;
                cell
            }
            other => text(other),
        };
        table.row([
            text(&a["id"]),
            text(&a["state"]),
            text(&a["rule"]),
            run,
            statement,
        ]);
    }
    out!("{}", table.render());
    if elided {
        outln!(
            "(the middle of long statements is elided; `hoop approvals show <id>` prints all of it)"
        );
    }
}

/// Characters of a long statement shown from its start, and from its end.
const HEAD_CHARS: usize = 48;
const TAIL_CHARS: usize = 40;

/// A statement as one table cell, and whether part of it is elided. Its start and its end are
/// always shown (the end is where `; DROP TABLE cards` hides behind padding): a statement longer
/// than both is shown as the first [`HEAD_CHARS`] and the last [`TAIL_CHARS`] characters with
/// `… ⟨n bytes elided⟩ …` between them, `n` counted in the statement as held. Runs of
/// whitespace count as one character (a line break when they hold one), and leading and
/// trailing whitespace as none, so padding cannot push the end out of sight. The table escapes
/// what is left ([`crate::display::line`]): a line break shows as `\u{a}` (a `--` comment ends
/// there, and the reader must see where), a control character cannot add a row or drive the
/// terminal.
fn statement_cell(statement: &str) -> (String, bool) {
    // (character, its byte range in `statement`), whitespace runs collapsed.
    let mut chars: Vec<(char, usize, usize)> = Vec::new();
    let mut run: Option<(bool, usize, usize)> = None;
    for (at, c) in statement.char_indices() {
        let end = at + c.len_utf8();
        if c.is_ascii_whitespace() {
            let line_break = matches!(c, '\n' | '\r');
            run = Some(match run {
                Some((broke, start, _)) => (broke || line_break, start, end),
                None => (line_break, at, end),
            });
            continue;
        }
        if let Some((broke, start, end)) = run.take()
            && !chars.is_empty()
        {
            chars.push((if broke { '\n' } else { ' ' }, start, end));
        }
        chars.push((c, at, end));
    }
    let collapsed =
        |part: &[(char, usize, usize)]| part.iter().map(|&(c, ..)| c).collect::<String>();
    if chars.len() <= HEAD_CHARS + TAIL_CHARS + 24 {
        return (collapsed(&chars), false);
    }
    let head = &chars[..HEAD_CHARS];
    let tail = &chars[chars.len() - TAIL_CHARS..];
    let elided = tail[0].1 - head[HEAD_CHARS - 1].2;
    let cell = format!(
        "{} … ⟨{} bytes elided⟩ … {}",
        collapsed(head).trim_end_matches(' '),
        thousands(elided),
        collapsed(tail).trim_start_matches(' ')
    );
    (cell, true)
}

/// `4812` as `4,812`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

fn print_one(a: &Value) {
    let run = &a["run"];
    outln!("approval   {}", text(&a["id"]));
    outln!("state      {}", text(&a["state"]));
    outln!("rule       {} ({})", text(&a["rule"]), text(&a["reason"]));
    outln!("connection {}", text(&a["connection"]));
    outln!(
        "run        {} {} run {} attempt {} by {}{} on {} ({})",
        text(&run["provider"]),
        text(&run["repository"]),
        text(&run["run_id"]),
        text(&run["attempt"]),
        text(&run["actor"]),
        match &run["actor_id"] {
            Value::Null => String::new(),
            id => format!(" (id {})", text(id)),
        },
        text(&run["ref"]),
        text(&run["event"]),
    );
    if !run["run_url"].is_null() {
        outln!("run url    {}", text(&run["run_url"]));
    }
    outln!(
        "requested  {} (expires {})",
        text(&a["requested_at"]),
        text(&a["expires_at"])
    );
    if !a["decided_by"].is_null() {
        outln!(
            "decided    {} by {} (scope {}){}",
            text(&a["decided_at"]),
            text(&a["decided_by"]),
            text(&a["scope"]),
            if a["comment"].is_null() {
                String::new()
            } else {
                format!(": {}", text(&a["comment"]))
            }
        );
    }
    outln!("statement\n{}", block(&a["statement"]));
    if a["state"] == "pending" {
        outln!("\napprove with: {}", text(&a["approve_command"]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_shown_with_hidden_characters_escaped() {
        let sneaky = Value::String("acme/pay\u{200b}ments\u{202e}\n".into());
        assert_eq!(text(&sneaky), "acme/pay\\u{200b}ments\\u{202e}\\u{a}");
        let statement = Value::String("UPDATE t\nSET a = 1 -- \u{2066}x\u{2069}\u{1b}[2J".into());
        assert_eq!(
            block(&statement),
            "UPDATE t\nSET a = 1 -- \\u{2066}x\\u{2069}\\u{1b}[2J"
        );
        assert_eq!(text(&Value::Null), "-");
        assert_eq!(text(&serde_json::json!(2)), "2");
    }

    /// Rendered as `hoop approvals list` prints it.
    fn as_listed(statement: &str) -> String {
        let mut table = Table::new(&["statement"]);
        table.row([statement_cell(statement).0]);
        table.render()
    }

    #[test]
    fn a_long_statement_shows_its_start_and_its_end() {
        let padding = "x".repeat(4_800);
        let statement = format!("SELECT 1 /* {padding} */; DROP TABLE cards");
        let (cell, elided) = statement_cell(&statement);
        assert!(elided);
        assert!(cell.starts_with("SELECT 1 /* xxx"), "{cell}");
        assert!(cell.ends_with("xxx */; DROP TABLE cards"), "{cell}");
        // Every byte is either shown or counted.
        let shown_x = cell.matches('x').count();
        assert!(
            cell.contains(&format!(
                "… ⟨{} bytes elided⟩ …",
                thousands(4_800 - shown_x)
            )),
            "{cell}"
        );
        assert_eq!(thousands(4_812), "4,812");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        // A short one is shown whole.
        assert_eq!(
            statement_cell("ALTER TABLE payments ADD COLUMN note text"),
            (
                "ALTER TABLE payments ADD COLUMN note text".to_owned(),
                false
            )
        );
    }

    #[test]
    fn padding_cannot_push_the_end_out_of_sight() {
        for padding in [
            " ".repeat(5_000),
            "\n".repeat(5_000),
            "\t \r\n".repeat(2_000),
        ] {
            let statement = format!("SELECT 1;{padding}DROP TABLE cards{padding}");
            let (cell, _) = statement_cell(&statement);
            assert!(cell.contains("DROP TABLE cards"), "{cell:?}");
        }
    }

    #[test]
    fn a_statement_stays_on_its_row_and_cannot_drive_the_terminal() {
        // A first line that looks harmless, and a second line that looks like another row.
        let statement = "SELECT 1 -- fine\nfe3d1c2a-0000-4000-8000-000000000000  approved  r  x#1  DROP TABLE cards\u{1b}[2J";
        let listed = as_listed(statement);
        assert_eq!(listed.lines().count(), 2, "{listed}");
        assert!(
            listed.contains("SELECT 1 -- fine\\u{a}fe3d1c2a") && listed.contains("\\u{1b}[2J"),
            "{listed}"
        );
        assert!(!listed.contains('\u{1b}'));
        // And when elided, the elision does not undo it.
        let long = format!(
            "SELECT 1 -- {}\nDROP TABLE cards\r\u{1b}[2K",
            "y".repeat(500)
        );
        let listed = as_listed(&long);
        assert_eq!(listed.lines().count(), 2, "{listed}");
        assert!(listed.contains("\\u{a}DROP TABLE cards"), "{listed}");
        assert!(!listed.contains('\u{1b}') && !listed.contains('\r'));
    }
}
