//! Just-in-time approval of held statements.
//!
//! A statement an `approve` rule matches is held by the gateway session that received it
//! ([`crate::gateway`]), not the session: [`Approvals::request`] stores the approval (statement
//! masked), audits it and notifies ([`notify`]); the session waits on a [`Waiter`] that wakes
//! when `NOTIFY hoop_approvals` names the approval, whichever replica recorded the decision.
//! Approvers decide through the API with their tokens ([`Approvers`]); [`Approvals::decide`]
//! enforces dual control (the approver is not the run's actor, compared by immutable user id;
//! see [`Approver::may_decide`]) and audits every decision and every refused attempt.
//!
//! Architecture Invariant: nothing approves a statement but a stored `approved` row written by
//! [`Approvals::decide`] for an authenticated approver whose forge user id is not the run's
//! actor id. A timeout, a
//! lost notification, a failed notification or an unreachable state database all end as a
//! refusal.

pub mod config;
pub mod notify;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use tokio::sync::Notify;

pub use self::config::{ApprovalsConfig, ApproverConfig};
use crate::audit::{Action, AuditEvent, AuditLog, Outcome};
pub use crate::base::ApprovalId;
use crate::base::CredentialId;
use crate::base::Shutdown;
use crate::identity::{Provider, RunIdentity};
pub use crate::state::approvals::{ApprovalRecord, ApprovalState, NewApproval, Resolution, Scope};
use crate::state::{StateError, Store, approvals as table};

/// Errors of the approvals layer, each with a stable code for the API.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("no approval has the id {0}")]
    NotFound(ApprovalId),
    #[error("approval {id} is already {state}; nothing was changed")]
    NotPending { id: ApprovalId, state: &'static str },
    #[error(
        "dual control: {approver} started this run ({provider} user {actor}) and cannot \
         approve its statements; ask another approver"
    )]
    DualControl {
        approver: String,
        provider: &'static str,
        actor: String,
    },
    #[error("dual control cannot be checked, so {approver} may not decide: {why}")]
    DualControlUnknown {
        approver: String,
        provider: &'static str,
        why: String,
    },
}

impl ApprovalError {
    pub fn code(&self) -> &'static str {
        match self {
            ApprovalError::State(_) => "state_unavailable",
            ApprovalError::NotFound(_) => "not_found",
            ApprovalError::NotPending { .. } => "not_pending",
            ApprovalError::DualControl { .. } => "dual_control",
            ApprovalError::DualControlUnknown { .. } => "dual_control_unknown",
        }
    }
}

/// One approver, with the SHA-256 of their token.
#[derive(Clone, Debug)]
pub struct Approver {
    pub name: String,
    token_sha256: crate::bearer::TokenHash,
    pub github_id: Option<u64>,
    pub gitlab_id: Option<u64>,
    pub github_login: Option<String>,
    pub gitlab_login: Option<String>,
}

impl Approver {
    fn id(&self, provider: Provider) -> Option<u64> {
        match provider {
            Provider::Github => self.github_id,
            Provider::Gitlab => self.gitlab_id,
        }
    }

    fn login(&self, provider: Provider) -> Option<&str> {
        match provider {
            Provider::Github => self.github_login.as_deref(),
            Provider::Gitlab => self.gitlab_login.as_deref(),
        }
    }

    /// Dual control: the approver must be known on the run's forge by id and be neither the
    /// run's actor nor whoever started this attempt of it.
    ///
    /// Ids decide (GitHub `actor_id`, GitLab `user_id`): logins can be renamed and recycled.
    /// A login that equals the actor's (case-insensitively, as both forges compare them)
    /// refuses too; it never allows. GitHub's token names the actor of the run's first
    /// attempt only (it has no `triggering_actor`), so a re-run (`run_attempt` > 1) may have
    /// been started by the approver and cannot be checked: refused. GitLab has no attempts; a
    /// retried job is a new job whose `user_id` is whoever retried it.
    pub fn may_decide(&self, run: &RunIdentity) -> Result<(), ApprovalError> {
        let provider = run.provider.as_str();
        let unknown = |why: String| ApprovalError::DualControlUnknown {
            approver: self.name.clone(),
            provider,
            why,
        };
        let Some(approver_id) = self.id(run.provider) else {
            return Err(unknown(format!(
                "the run is a {provider} run and approver {:?} has no {provider}_id; add \
                 {provider}_id = <their numeric {provider} user id> to their \
                 [[approvals.approvers]] entry",
                self.name
            )));
        };
        // Compared as numbers: "0583231" is the same user as "583231".
        let Some(actor_id) = run
            .actor_id
            .as_deref()
            .and_then(|id| id.parse::<u64>().ok())
        else {
            return Err(unknown(format!(
                "the run's token names no actor id, or none that is a number ({})",
                match run.provider {
                    Provider::Github => "actor_id",
                    Provider::Gitlab => "user_id",
                }
            )));
        };
        let same_login = match (self.login(run.provider), run.actor.as_deref()) {
            (Some(login), Some(actor)) => login.eq_ignore_ascii_case(actor),
            _ => false,
        };
        if actor_id == approver_id || same_login {
            return Err(ApprovalError::DualControl {
                approver: self.name.clone(),
                provider,
                actor: format!(
                    "{} with id {actor_id}",
                    run.actor
                        .as_deref()
                        .map_or("-".into(), |a| format!("{a:?}"))
                ),
            });
        }
        if run.provider == Provider::Github && run.attempt > 1 {
            return Err(unknown(format!(
                "this is attempt {} of the run, a re-run, and GitHub's token names only the \
                 first attempt's actor, not who re-ran it (it may be the approver); start a \
                 new run instead of re-running this one",
                run.attempt
            )));
        }
        Ok(())
    }
}

/// The configured approvers.
#[derive(Clone, Debug, Default)]
pub struct Approvers(Vec<Approver>);

impl Approvers {
    /// From validated configuration ([`ApprovalsConfig::validate`] checked the hashes).
    pub fn from_config(config: &[ApproverConfig]) -> Approvers {
        Approvers(
            config
                .iter()
                .map(|a| {
                    // Validated: 64 hex digits.
                    let hash = crate::bearer::TokenHash::parse(&a.token_sha256)
                        .unwrap_or(crate::bearer::TokenHash::of(""));
                    Approver {
                        name: a.name.clone(),
                        token_sha256: hash,
                        github_id: a.github_id,
                        gitlab_id: a.gitlab_id,
                        github_login: a.github_login.clone(),
                        gitlab_login: a.gitlab_login.clone(),
                    }
                })
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The approver whose token this is. Every configured hash is compared in constant time,
    /// so timing tells nothing about which or how many approvers exist.
    pub fn authenticate(&self, token: &str) -> Option<Approver> {
        crate::bearer::find(&self.0, token, |a| &a.token_sha256).cloned()
    }
}

/// A new approver token and the hash that goes into the configuration.
pub fn new_token() -> (crate::base::Secret, String) {
    let (token, hash) = crate::bearer::new_token("hoopapr_");
    (token, hash.to_hex())
}

/// Sessions waiting for a decision on this replica, woken by `NOTIFY hoop_approvals`.
#[derive(Default)]
struct Hub {
    // std Mutex: held only for map operations, never across an await.
    waiting: Mutex<HashMap<ApprovalId, Arc<Notify>>>,
}

impl Hub {
    fn wake(&self, id: ApprovalId) {
        if let Some(n) = self.waiting.lock().expect("hub lock").get(&id) {
            n.notify_one();
        }
    }

    /// After the listening connection was lost, notifications may have been missed: every
    /// waiter re-reads its approval once.
    fn wake_all(&self) {
        for n in self.waiting.lock().expect("hub lock").values() {
            n.notify_one();
        }
    }
}

/// A held session's subscription to its approval's changes. Registered before the first
/// read of the row, so a decision between the read and the wait is not lost (a `Notify`
/// keeps one wake-up for a waiter that is not yet waiting). Dropping it unsubscribes.
pub struct Waiter {
    hub: Arc<Hub>,
    id: ApprovalId,
    notify: Arc<Notify>,
}

impl Waiter {
    /// Resolves when the approval may have changed: re-read it.
    pub async fn changed(&self) {
        self.notify.notified().await;
    }
}

#[cfg(test)]
impl Waiter {
    /// A waiter outside any replica's hub, and the handle that wakes it (stand-ins in tests).
    pub(crate) fn detached() -> (Waiter, Arc<Notify>) {
        let notify = Arc::new(Notify::new());
        let waiter = Waiter {
            hub: Arc::default(),
            id: ApprovalId::new_random(),
            notify: notify.clone(),
        };
        (waiter, notify)
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.hub.waiting.lock().expect("hub lock").remove(&self.id);
    }
}

/// What the gateway asks for when it holds a statement.
pub struct HoldRequest<'a> {
    pub credential_id: CredentialId,
    pub session_id: crate::base::SessionId,
    pub connection: &'a str,
    pub rule: &'a str,
    pub reason: &'a str,
    /// Masked.
    pub statement: &'a str,
    pub fingerprint: &'a str,
    pub issuer: &'a str,
    pub run: &'a RunIdentity,
    /// Audit context of the session (subject, credential, connection, trust rule, address).
    pub audit: &'a AuditEvent,
}

/// The approvals service of one replica.
pub struct Approvals {
    store: Store,
    audit: AuditLog,
    hub: Arc<Hub>,
    /// Replaced by a reload.
    approvers: ArcSwap<Approvers>,
    notifier: notify::Notifier,
    timeout: std::time::Duration,
    notice_interval: std::time::Duration,
    /// `https://hoop.example.com`, without a trailing slash.
    public_url: String,
}

impl Approvals {
    pub fn new(
        store: Store,
        audit: AuditLog,
        config: &ApprovalsConfig,
        notifier: notify::Notifier,
        default_public_url: &str,
    ) -> Approvals {
        let public_url = config
            .public_url
            .as_ref()
            .map_or(default_public_url, |u| u.as_str())
            .trim_end_matches('/')
            .to_owned();
        Approvals {
            store,
            audit,
            hub: Arc::default(),
            approvers: ArcSwap::from_pointee(Approvers::from_config(&config.approvers)),
            notifier,
            timeout: config.timeout,
            notice_interval: config.notice_interval,
            public_url,
        }
    }

    /// The approvers in force now.
    pub fn approvers(&self) -> Arc<Approvers> {
        self.approvers.load_full()
    }

    /// Puts a new list of approvers in force for the decisions that come from now on.
    pub fn replace_approvers(&self, approvers: &[ApproverConfig]) {
        self.approvers
            .store(Arc::new(Approvers::from_config(approvers)));
    }

    pub fn timeout(&self) -> std::time::Duration {
        self.timeout
    }

    pub fn notice_interval(&self) -> std::time::Duration {
        self.notice_interval
    }

    /// The page a person who follows a notice's link is shown: how an approver sees and
    /// decides this approval (`GET /approvals/{id}`, no token needed, nothing of it shown). The
    /// JSON API stays at `/v1/approvals/{id}`.
    pub fn url_of(&self, id: ApprovalId) -> String {
        format!("{}/approvals/{id}", self.public_url)
    }

    /// The base URL approvers reach the API at, without a trailing slash.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The command an approver runs.
    pub fn command_for(&self, id: ApprovalId) -> String {
        format!("hoop approvals approve {id} --url {}", self.public_url)
    }

    /// The run-wide approval that already covers this statement, if one does.
    pub async fn covering(
        &self,
        issuer: &str,
        run: &RunIdentity,
        connection: &str,
        rule: &str,
        fingerprint: &str,
    ) -> Result<Option<ApprovalRecord>, ApprovalError> {
        let client = self.store.client().await?;
        Ok(table::covering(&client, issuer, run, connection, rule, fingerprint).await?)
    }

    /// Stores a pending approval, audits it and sends its notifications. The waiter is
    /// subscribed before the row exists, so no decision can slip past it.
    pub async fn request(
        &self,
        hold: &HoldRequest<'_>,
    ) -> Result<(ApprovalRecord, Waiter), ApprovalError> {
        let id = ApprovalId::new_random();
        let waiter = self.watch(id);
        let client = self.store.client().await?;
        let record = table::insert(
            &client,
            &NewApproval {
                id,
                credential_id: hold.credential_id,
                session_id: hold.session_id,
                replica: self.audit.replica(),
                connection: hold.connection,
                rule: hold.rule,
                reason: hold.reason,
                statement: hold.statement,
                fingerprint: hold.fingerprint,
                issuer: hold.issuer,
                run: hold.run,
                timeout: self.timeout,
            },
        )
        .await?;
        let mut event = hold.audit.clone();
        event.action = Action::Approval;
        event.outcome = Outcome::Success;
        event.code = "requested".into();
        event.message = format!(
            "approval {id} requested (rule {}), expires at {}",
            hold.rule,
            record.expires_at.to_rfc3339()
        );
        self.record(&event).await;
        self.notifier.notify(notify::Notice {
            approval_id: id.as_uuid(),
            rule: record.rule.clone(),
            reason: record.reason.clone(),
            statement: record.statement.clone(),
            connection: record.connection.clone(),
            run: record.run.clone(),
            requested_at: record.requested_at,
            expires_at: record.expires_at,
            approve_url: self.url_of(id),
            approve_command: self.command_for(id),
        });
        Ok((record, waiter))
    }

    fn watch(&self, id: ApprovalId) -> Waiter {
        let notify = Arc::new(Notify::new());
        self.hub
            .waiting
            .lock()
            .expect("hub lock")
            .insert(id, notify.clone());
        Waiter {
            hub: self.hub.clone(),
            id,
            notify,
        }
    }

    pub async fn get(&self, id: ApprovalId) -> Result<ApprovalRecord, ApprovalError> {
        let client = self.store.client().await?;
        table::get(&client, id)
            .await?
            .ok_or(ApprovalError::NotFound(id))
    }

    pub async fn list(
        &self,
        state: Option<ApprovalState>,
        limit: i64,
    ) -> Result<Vec<ApprovalRecord>, ApprovalError> {
        let client = self.store.client().await?;
        Ok(table::list(&client, state, limit).await?)
    }

    /// The holder's own ending of a pending approval (timeout or withdrawal), audited.
    /// `Ok(None)`: a decision got there first; the caller re-reads it.
    pub async fn close(
        &self,
        id: ApprovalId,
        resolution: &Resolution<'_>,
        context: &AuditEvent,
    ) -> Result<Option<ApprovalRecord>, ApprovalError> {
        let client = self.store.client().await?;
        let Some(record) = table::resolve(&client, id, resolution).await? else {
            return Ok(None);
        };
        let mut event = context.clone();
        event.action = Action::Approval;
        event.outcome = Outcome::Success;
        event.code = record.state.as_str().into();
        event.message = match resolution {
            Resolution::Withdrawn { why } => format!("approval {id} withdrawn: {why}"),
            _ => format!("approval {id} expired: nobody decided in time"),
        };
        self.record(&event).await;
        Ok(Some(record))
    }

    /// An approver's decision. Audited whether it is recorded or refused.
    pub async fn decide(
        &self,
        id: ApprovalId,
        approver: &Approver,
        resolution: &Resolution<'_>,
        remote_addr: Option<std::net::IpAddr>,
    ) -> Result<ApprovalRecord, ApprovalError> {
        let outcome = self.try_decide(id, approver, resolution).await;
        let verb = match resolution {
            Resolution::Approved { .. } => "approve",
            _ => "deny",
        };
        let (outcome_kind, code, message, record) = match &outcome {
            Ok(r) => (
                Outcome::Success,
                r.state.as_str().to_owned(),
                format!(
                    "approval {id} {} by {}{}",
                    r.state.as_str(),
                    approver.name,
                    match r.scope {
                        Some(Scope::Run) => " for the rest of the run",
                        _ => "",
                    }
                ),
                Some(r),
            ),
            Err(e) => (
                match e {
                    ApprovalError::State(_) => Outcome::Error,
                    _ => Outcome::Denied,
                },
                e.code().to_owned(),
                format!("{} may not {verb} approval {id}: {e}", approver.name),
                None,
            ),
        };
        let mut event = AuditEvent::new(Action::Approval, outcome_kind, &code, message);
        event.remote_addr = remote_addr;
        event.subject = Some(format!("approver:{}", approver.name));
        if let Some(r) = record {
            event.credential_id = Some(CredentialId::from_uuid(r.credential_id));
            event.connection = Some(r.connection.clone());
            event.claims = serde_json::to_value(&r.run).ok();
            event.claims_verified = true;
        }
        self.record(&event).await;
        outcome
    }

    async fn try_decide(
        &self,
        id: ApprovalId,
        approver: &Approver,
        resolution: &Resolution<'_>,
    ) -> Result<ApprovalRecord, ApprovalError> {
        let client = self.store.client().await?;
        let current = table::get(&client, id)
            .await?
            .ok_or(ApprovalError::NotFound(id))?;
        approver.may_decide(&current.run)?;
        if current.state != ApprovalState::Pending {
            return Err(ApprovalError::NotPending {
                id,
                state: current.state.as_str(),
            });
        }
        match table::resolve(&client, id, resolution).await? {
            Some(r) => Ok(r),
            None => {
                // Moved in between, or past its deadline (the holder expires it).
                let now = table::get(&client, id)
                    .await?
                    .ok_or(ApprovalError::NotFound(id))?;
                Err(ApprovalError::NotPending {
                    id,
                    state: match now.state {
                        ApprovalState::Pending => "expired",
                        other => other.as_str(),
                    },
                })
            }
        }
    }

    /// A refused attempt to use the approvals API (no or unknown token), audited.
    pub async fn record_refusal(
        &self,
        code: &str,
        message: &str,
        remote_addr: Option<std::net::IpAddr>,
    ) {
        let mut event = AuditEvent::new(Action::Approval, Outcome::Denied, code, message);
        event.remote_addr = remote_addr;
        self.record(&event).await;
    }

    async fn record(&self, event: &AuditEvent) {
        if let Err(e) = self.audit.record(event).await {
            tracing::error!(target: "hoop::alert", error = %e, code = %event.code, "cannot write an approval's audit event");
        }
    }

    /// Relays `NOTIFY hoop_approvals` to this replica's waiters until shutdown, reconnecting
    /// after failures (and then, once LISTEN is in place again, waking every waiter to re-read,
    /// since notifications may have been missed while the connection was down).
    pub async fn listen(self: Arc<Self>, shutdown: Shutdown) {
        // Notifications still being retried stop with the hub.
        let notifier = self.clone();
        let stop = async move {
            shutdown.wait().await;
            notifier.notifier.stop();
        };
        tokio::pin!(stop);
        let mut first = true;
        loop {
            let hub = self.hub.clone();
            let reconnected = !first;
            let listening = self.store.listen(
                table::CHANNEL,
                || {
                    if reconnected {
                        self.hub.wake_all();
                    }
                },
                move |payload| {
                    if let Ok(id) = ApprovalId::parse(payload) {
                        hub.wake(id);
                    }
                },
            );
            first = false;
            tokio::select! {
                () = &mut stop => return,
                result = listening => {
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "approval notifications interrupted; reconnecting");
                    }
                }
            }
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approver(github_id: Option<u64>, github_login: Option<&str>) -> Approver {
        Approvers::from_config(&[ApproverConfig {
            name: "lead".into(),
            token_sha256: crate::bearer::TokenHash::of("t").to_hex(),
            github_id,
            gitlab_id: Some(45),
            github_login: github_login.map(str::to_owned),
            gitlab_login: Some("lead.gl".into()),
        }])
        .0
        .remove(0)
    }

    fn run(actor: Option<&str>, actor_id: Option<&str>) -> RunIdentity {
        RunIdentity {
            provider: Provider::Github,
            repository: "acme/ledger".into(),
            repository_id: "1".into(),
            owner: "acme".into(),
            owner_id: "2".into(),
            run_id: crate::identity::RunId::new("3").unwrap(),
            attempt: 1,
            job_id: None,
            git_ref: None,
            sha: None,
            workflow: None,
            environment: None,
            actor: actor.map(str::to_owned),
            actor_id: actor_id.map(str::to_owned),
            event: None,
            pull_request: false,
            run_url: None,
        }
    }

    fn code(result: Result<(), ApprovalError>) -> &'static str {
        result.err().map_or("ok", |e| e.code())
    }

    #[test]
    fn dual_control_compares_ids() {
        let lead = approver(Some(100), Some("lead-gh"));
        assert_eq!(code(lead.may_decide(&run(Some("dev"), Some("7")))), "ok");
        // The actor renamed their account, or took a login the approver config does not
        // know: the id still refuses.
        assert_eq!(
            code(lead.may_decide(&run(Some("someone-else"), Some("100")))),
            "dual_control"
        );
        // No login configured: the id alone decides.
        let by_id = approver(Some(100), None);
        assert_eq!(
            code(by_id.may_decide(&run(Some("dev"), Some("100")))),
            "dual_control"
        );
        assert_eq!(code(by_id.may_decide(&run(Some("dev"), Some("7")))), "ok");
        // Ids compare as numbers: "0100" is user 100, "1000" is not.
        assert_eq!(
            code(by_id.may_decide(&run(None, Some("0100")))),
            "dual_control"
        );
        assert_eq!(code(by_id.may_decide(&run(None, Some("1000")))), "ok");
        // An id too large for a u64 cannot be compared: refused.
        assert_eq!(
            code(by_id.may_decide(&run(None, Some("99999999999999999999999")))),
            "dual_control_unknown"
        );
    }

    #[test]
    fn a_matching_login_refuses_but_never_allows() {
        let lead = approver(Some(100), Some("Dev"));
        let e = lead.may_decide(&run(Some("dev"), Some("7"))).unwrap_err();
        assert_eq!(e.code(), "dual_control");
        assert!(e.to_string().contains("\"dev\" with id 7"), "{e}");
    }

    #[test]
    fn without_ids_dual_control_fails_closed_saying_what_to_add() {
        let e = approver(None, Some("lead-gh"))
            .may_decide(&run(Some("dev"), Some("7")))
            .unwrap_err();
        assert_eq!(e.code(), "dual_control_unknown");
        assert!(e.to_string().contains("add github_id = "), "{e}");
        let e = approver(Some(100), Some("lead-gh"))
            .may_decide(&run(Some("dev"), None))
            .unwrap_err();
        assert_eq!(e.code(), "dual_control_unknown");
        assert!(e.to_string().contains("actor_id"), "{e}");
    }

    #[test]
    fn a_github_re_run_cannot_be_checked() {
        let lead = approver(Some(100), Some("lead-gh"));
        let mut rerun = run(Some("dev"), Some("7"));
        rerun.attempt = 2;
        let e = lead.may_decide(&rerun).unwrap_err();
        assert_eq!(e.code(), "dual_control_unknown");
        assert!(e.to_string().contains("re-run"), "{e}");
        // The actor of a re-run is still refused as the actor.
        rerun.actor_id = Some("100".into());
        assert_eq!(code(lead.may_decide(&rerun)), "dual_control");
    }

    #[test]
    fn gitlab_runs_compare_the_gitlab_id() {
        let lead = approver(Some(100), None);
        let mut gitlab = run(Some("dev"), Some("45"));
        gitlab.provider = Provider::Gitlab;
        assert_eq!(code(lead.may_decide(&gitlab)), "dual_control");
        gitlab.actor_id = Some("100".into());
        assert_eq!(
            code(lead.may_decide(&gitlab)),
            "ok",
            "the GitHub id means nothing on GitLab"
        );
        gitlab.actor = Some("LEAD.GL".into());
        assert_eq!(code(lead.may_decide(&gitlab)), "dual_control");
        let mut github_only = approver(Some(100), None);
        github_only.gitlab_id = None;
        gitlab.actor = Some("dev".into());
        assert_eq!(
            code(github_only.may_decide(&gitlab)),
            "dual_control_unknown"
        );
    }

    #[test]
    fn tokens_authenticate_by_their_hash_only() {
        let (token, hash) = new_token();
        assert!(token.expose().starts_with("hoopapr_") && hash.len() == 64);
        let approvers = Approvers::from_config(&[ApproverConfig {
            name: "lead".into(),
            token_sha256: hash,
            github_id: Some(1),
            gitlab_id: None,
            github_login: None,
            gitlab_login: None,
        }]);
        assert_eq!(
            approvers.authenticate(token.expose()).map(|a| a.name),
            Some("lead".to_owned())
        );
        assert!(approvers.authenticate("hoopapr_guess").is_none());
        assert!(approvers.authenticate("").is_none());
    }
}
