//! The relay's side of a held statement: waiting for its approval while the session goes on
//! relaying the upstream, and what an approval for one execution allows afterwards (one Bind,
//! under a statement name nothing else can reach). What the
//! client is told and how each ending reads are [`super::super::hold`]'s (pure).

use bytes::BytesMut;
use hoop_protocol::frontend::{self, FrontendMessage, Target};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::super::hold::notice_fields;
use super::super::policy::{self, Refusal};
use super::{ClientIo, Ended, READ_CHUNK, Relay, UpstreamIo, ending_of, fatal};
use crate::base::ApprovalId;
use crate::policy::classify::Classification;
use crate::policy::rules::Decision;
use crate::session::{Ending, HoldOutcome, HoldStart, HoldStep};

/// A prepared statement approved for one execution.
///
/// Approve-once means once by construction: the client's name never exists upstream, so SQL
/// (`EXECUTE name`, `EXPLAIN ANALYZE EXECUTE name`, `CREATE TABLE ... AS EXECUTE name`, a
/// function or `DO` block reading `pg_prepared_statements`) has nothing to execute. Upstream
/// the statement exists under a private name only between the gateway's own Parse and Close,
/// written back to back around the one message that needs it (the approved Parse itself, a
/// Describe, the one Bind), so no client statement runs while it exists. If an earlier error
/// makes the upstream skip that Close, it skips every message up to the next Sync as well,
/// and the gateway closes the name again right after that Sync ([`Relay::closing`]).
pub(super) struct ApprovedOnce {
    id: ApprovalId,
    sql: String,
    param_types: Vec<u32>,
    /// The statement's name upstream: random, never the client's.
    private: String,
    /// Whether the one Bind was forwarded.
    bound: bool,
}

impl<C: ClientIo, U: UpstreamIo> Relay<'_, '_, C, U> {
    /// Notes a Parse approved for one execution; [`Self::forward_approved_once`] forwards it.
    pub(super) fn approve_once(&mut self, message: &FrontendMessage, id: ApprovalId) {
        if let FrontendMessage::Parse {
            statement,
            sql,
            param_types,
        } = message
        {
            let private = format!("hoop_once_{}", uuid::Uuid::new_v4().simple());
            let approved = ApprovedOnce {
                id,
                sql: sql.clone(),
                param_types: param_types.clone(),
                private,
                bound: false,
            };
            self.approved_once.insert(statement.clone(), approved);
        }
    }

    /// Forgets an approval whose statement the message replaces: a Parse of the same name, or
    /// a simple Query (which destroys the unnamed statement).
    pub(super) fn forget_replaced(&mut self, message: &FrontendMessage) {
        match message {
            FrontendMessage::Parse { statement, .. } => {
                self.approved_once.remove(statement);
            }
            FrontendMessage::Query { .. } | FrontendMessage::FunctionCall { .. } => {
                self.approved_once.remove("");
            }
            _ => {}
        }
    }

    /// A Bind of a prepared statement approved for one execution, bound a second time: refused
    /// (the approver saw one statement, not its every future parameter).
    pub(super) fn once_more(&mut self, message: &FrontendMessage) -> Option<Refusal> {
        let FrontendMessage::Bind { statement, .. } = message else {
            return None;
        };
        let approved = self.approved_once.get_mut(statement)?;
        if !std::mem::replace(&mut approved.bound, true) {
            return None;
        }
        Some(Refusal {
            sqlstate: "42501",
            message: format!(
                "{} {} approved one execution of this statement",
                policy::APPROVAL_PREFIX,
                approved.id
            ),
            detail: "a second execution needs its own approval".into(),
            hint: "prepare the statement again to request one".into(),
        })
    }

    /// Forwards a message about a statement approved for one execution under its private name
    /// (see [`ApprovedOnce`]), and closes private names again after a Sync. `false` when the
    /// message is none of these and is forwarded as usual.
    pub(super) fn forward_approved_once(&mut self, message: &FrontendMessage) -> bool {
        let named = match message {
            FrontendMessage::Parse { statement, .. }
            | FrontendMessage::Bind { statement, .. }
            | FrontendMessage::Describe {
                target: Target::Statement,
                name: statement,
            }
            | FrontendMessage::Close {
                target: Target::Statement,
                name: statement,
            } => statement,
            FrontendMessage::Sync if !self.closing.is_empty() => {
                self.masker.client(message);
                frontend::encode_sync(&mut self.out);
                // Nothing is skipped right after a Sync: these Closes run.
                for private in std::mem::take(&mut self.closing) {
                    frontend::encode_close(Target::Statement, &private, &mut self.out);
                    self.masker.injected_close();
                }
                return true;
            }
            _ => return false,
        };
        let Some(approved) = self.approved_once.get(named) else {
            return false;
        };
        let private = approved.private.clone();
        let out = &mut self.out;
        let parse = |out: &mut BytesMut| {
            frontend::encode_parse(&private, &approved.sql, &approved.param_types, out);
        };
        match message {
            FrontendMessage::Parse { .. } => {
                self.masker.client(message);
                parse(out);
            }
            FrontendMessage::Describe { .. } => {
                self.masker.injected_parse();
                parse(out);
                self.masker.client(message);
                frontend::encode_describe(Target::Statement, &private, out);
            }
            FrontendMessage::Bind {
                portal,
                param_formats,
                params,
                result_formats,
                ..
            } => {
                self.masker.injected_parse();
                parse(out);
                self.masker.client(message);
                frontend::encode_bind(portal, &private, param_formats, params, result_formats, out);
            }
            _ => {
                // The client's Close: answered by the upstream, and the approval is spent.
                self.masker.client(message);
                frontend::encode_close(Target::Statement, &private, out);
                self.approved_once.remove(named);
                return true;
            }
        }
        frontend::encode_close(Target::Statement, &private, out);
        self.masker.injected_close();
        if !self.closing.contains(&private) {
            self.closing.push(private);
        }
        true
    }

    /// Holds one statement until its approval is decided, the hold times out or the client
    /// cancels (the session core asks for the approval and records it). Meanwhile the session
    /// goes on relaying what the upstream sends, reminds the client what it waits for, and ends
    /// as usual on revocation, expiry or shutdown (withdrawing the request). `Err` ends the
    /// session.
    pub(super) async fn hold(
        &mut self,
        decision: &Decision,
        classification: Option<&Classification>,
        sql: &str,
    ) -> Result<HoldOutcome, Ended> {
        // Only a text that was classified is fingerprinted (its tree is known to be shallow
        // enough); one without a fingerprint is never covered and cannot be held.
        let fingerprint = match classification {
            Some(_) => self.statements_policy.fingerprint(sql).await,
            None => None,
        }
        .map(|fingerprint| crate::policy::classify::approval_shape(sql, &fingerprint));
        // A text that reads differently under the two string syntaxes or in another client
        // encoding has more than one fingerprint, and only one would be compared: it is never
        // covered, always held.
        let one_way = self.statements_policy.reads_one_way(sql).await;
        let started = self
            .session
            .hold(decision, fingerprint.as_deref(), one_way, sql)
            .await
            .map_err(Ended::RecordingFailed)?;
        let mut hold = match started {
            HoldStart::Ended(outcome) => return Ok(outcome),
            HoldStart::Waiting(hold) => hold,
        };
        // No statement waits for an approval on a gateway that is draining.
        let mut drain = self.drain.clone();
        if drain.borrow_and_update().is_some() {
            return Ok(hold.shut_down().await);
        }
        let session_end = crate::session::instant_of(self.session.credential().expires_at);
        let cancel = self.session.registration().cancel.clone();
        // One registration for the whole hold: a cancel that arrives while a branch runs is
        // not lost between two polls.
        let cancelled = cancel.notified();
        tokio::pin!(cancelled);
        cancelled.as_mut().enable();
        loop {
            self.upstream_in.reserve(READ_CHUNK);
            // What the client pipelines behind the held statement waits here, within bounds.
            let room = self.client_in.len() < self.max_message + READ_CHUNK;
            if room {
                self.client_in.reserve(READ_CHUNK);
            }
            tokio::select! {
                step = hold.next() => match step {
                    HoldStep::Remind(notice) => {
                        let mut buf = BytesMut::new();
                        hoop_protocol::backend::encode_notice_response(&notice_fields(&notice), &mut buf);
                        if self.client.write_all(&buf).await.is_err() {
                            hold.withdraw("the client disconnected").await;
                            return Err(Ended::ClientGone);
                        }
                    }
                    HoldStep::Ended(outcome) => return Ok(outcome),
                },
                () = &mut cancelled => return Ok(hold.cancel().await),
                Ok(()) = drain.changed() => {
                    if drain.borrow_and_update().is_some() {
                        return Ok(hold.shut_down().await);
                    }
                }
                r = self.client.read_buf(&mut self.client_in), if room => match r {
                    Ok(0) | Err(_) => {
                        hold.withdraw("the client disconnected").await;
                        return Err(Ended::ClientGone);
                    }
                    Ok(_) => {}
                },
                r = self.upstream.read_buf(&mut self.upstream_in) => {
                    let relayed = match r {
                        Ok(0) => Err(self.upstream_gone().await),
                        Ok(_) => self.forward_upstream().await,
                        Err(e) => Err(Ended::Io(e)),
                    };
                    if let Err(ended) = relayed {
                        hold.withdraw("the upstream session ended").await;
                        return Err(ended);
                    }
                }
                changed = self.ending.changed() => {
                    hold.withdraw("the session was ended").await;
                    let why = ending_of(changed, &self.ending);
                    fatal(&mut *self.client, "57P01", why.message()).await;
                    return Err(Ended::By(why));
                }
                () = tokio::time::sleep_until(session_end) => {
                    hold.withdraw("the credential expired").await;
                    fatal(&mut *self.client, "57P01", Ending::Expired.message()).await;
                    return Err(Ended::By(Ending::Expired));
                }
            }
        }
    }
}
