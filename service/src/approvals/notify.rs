//! Approval notifications: when a statement is held for approval, tell the approvers where to
//! approve it, on every configured channel: a signed webhook ([`webhook`]), a comment on the
//! GitHub pull request or commit ([`github`]), a note on the GitLab merge request or commit
//! ([`gitlab`]).
//!
//! [`Notifier::notify`] plans one delivery per channel that applies to the notice (pure: which
//! pull request, merge request or commit; see `github::address`, `gitlab::address`) and
//! spawns one task per delivery, retried by a typed schedule (`Retry::after_failure`).
//! Delivery is at least once: an attempt that timed out after the server accepted it is tried
//! again, so a receiver may see a notice twice (the webhook's `X-Hoop-Delivery` stays the same
//! across the tries of one notice, for de-duplication).
//!
//! Architecture Invariant: a notification never decides an approval. Nothing here reaches the
//! approval store; a delivery that fails, or succeeds, changes nothing but the log.

mod github;
mod gitlab;
mod webhook;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::base::url::is_secure_url;
use crate::base::{Backoff, SecretEnv, SecretSource, Shutdown, ShutdownTrigger};
use crate::identity::RunIdentity;

/// The `tracing` target of every notification log line.
const LOG_TARGET: &str = "hoop::approvals";

/// Upper bound on `attempts`: past it a notice is stale long before the last try.
const MAX_ATTEMPTS: u32 = 20;

/// Shortest accepted webhook secret: the HMAC key must not be guessable from one signed body.
const MIN_WEBHOOK_SECRET_BYTES: usize = 16;

/// Longest statement quoted in a comment. GitHub refuses comments over 65 536 characters; the
/// full (masked) text is in the approval and in the webhook payload.
const MAX_COMMENT_STATEMENT_CHARS: usize = 8_000;

/// `[approvals.notify]`: where approvers are told about a held statement. Every channel is
/// optional; with none, approvals are only visible through the API.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// `[approvals.notify.webhook]`: a signed JSON POST per notice.
    pub webhook: Option<WebhookConfig>,
    /// `[approvals.notify.github]`: a comment on the run's pull request or commit.
    pub github: Option<GithubNotifyConfig>,
    /// `[approvals.notify.gitlab]`: a note on the run's merge request or commit.
    pub gitlab: Option<GitlabNotifyConfig>,
    /// Tries per channel and notice, the first included (default 5, at most 20).
    #[serde(default = "defaults::attempts")]
    pub attempts: u32,
    /// Wait after the first failed try, doubled after each further one (default 1s).
    #[serde(default = "defaults::backoff", with = "humantime_serde")]
    pub backoff: Duration,
    /// Longest wait between two tries (default 1m).
    #[serde(default = "defaults::max_backoff", with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Bound on one request, connecting included (default 10s).
    #[serde(default = "defaults::timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            webhook: None,
            github: None,
            gitlab: None,
            attempts: defaults::attempts(),
            backoff: defaults::backoff(),
            max_backoff: defaults::max_backoff(),
            timeout: defaults::timeout(),
        }
    }
}

/// `[approvals.notify.webhook]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Receiver of the POST (https, or http to a loopback address).
    pub url: Url,
    /// HMAC-SHA-256 key of `X-Hoop-Signature` (at least 16 bytes).
    pub secret: SecretSource,
}

/// `[approvals.notify.github]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubNotifyConfig {
    /// Token allowed to comment on pull requests and commits (`pull-requests: write`,
    /// `contents: write` for commit comments) of the repositories whose runs use hoop.
    pub token: SecretSource,
    /// GitHub REST API base (default `https://api.github.com`; GHES: `https://<host>/api/v3`).
    #[serde(default = "defaults::github_api_url")]
    pub api_url: Url,
}

/// `[approvals.notify.gitlab]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitlabNotifyConfig {
    /// Token with `api` scope on the projects whose jobs use hoop.
    pub token: SecretSource,
    /// GitLab instance URL (`https://gitlab.com`, or a self-managed one, with its path prefix).
    pub url: Url,
}

mod defaults {
    use super::*;

    pub fn attempts() -> u32 {
        5
    }
    pub fn backoff() -> Duration {
        Duration::from_secs(1)
    }
    pub fn max_backoff() -> Duration {
        Duration::from_secs(60)
    }
    pub fn timeout() -> Duration {
        Duration::from_secs(10)
    }
    pub fn github_api_url() -> Url {
        Url::parse("https://api.github.com").expect("a valid URL")
    }
}

impl NotifyConfig {
    /// Checks what can be checked without reading secrets; errors name the key.
    pub fn validate(&self) -> Result<(), NotifyError> {
        let config = |key: &'static str, message: String| NotifyError::Config { key, message };
        if !(1..=MAX_ATTEMPTS).contains(&self.attempts) {
            return Err(config(
                "attempts",
                format!("must be between 1 and {MAX_ATTEMPTS}"),
            ));
        }
        if self.backoff > self.max_backoff {
            return Err(config(
                "backoff",
                "must not be longer than max_backoff".into(),
            ));
        }
        if self.timeout.is_zero() {
            return Err(config("timeout", "must be longer than 0s".into()));
        }
        let urls = [
            ("webhook.url", self.webhook.as_ref().map(|w| &w.url)),
            ("github.api_url", self.github.as_ref().map(|g| &g.api_url)),
            ("gitlab.url", self.gitlab.as_ref().map(|g| &g.url)),
        ];
        for (key, url) in urls {
            if let Some(url) = url
                && !is_secure_url(url)
            {
                return Err(config(
                    key,
                    format!(
                        "{} must use https (plain http is accepted only for loopback addresses)",
                        shown_url(url)
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// What one notification says. Everything in it is safe to publish: the caller masked the
/// statement text, and no field holds a secret.
#[derive(Clone, Debug, Serialize)]
pub struct Notice {
    pub approval_id: uuid::Uuid,
    /// The policy rule that holds the statement.
    pub rule: String,
    pub reason: String,
    /// The statement, masked.
    pub statement: String,
    /// `[[connections]] name` the statement was sent to.
    pub connection: String,
    pub run: RunIdentity,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// `<public API URL>/approvals/<id>`: the page that tells a person how to approve.
    pub approve_url: String,
    /// e.g. `hoop approvals approve <id>`.
    pub approve_command: String,
}

/// A notice's text fields as a person must see them: every character that does not show as
/// itself escaped ([`crate::display`]); the statement keeps its line breaks, the others are
/// one line each.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NoticeDisplay {
    pub statement: String,
    pub rule: String,
    pub reason: String,
    pub connection: String,
    pub repository: String,
    pub run_id: String,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub environment: Option<String>,
    pub actor: Option<String>,
    pub event: Option<String>,
    pub run_url: Option<String>,
}

impl Notice {
    /// The notice's client and claim text, escaped for people.
    pub fn display(&self) -> NoticeDisplay {
        use crate::display::{line, text};
        let opt = |v: &Option<String>| v.as_deref().map(|s| line(s).into_owned());
        let run = &self.run;
        NoticeDisplay {
            statement: text(&self.statement).into_owned(),
            rule: line(&self.rule).into_owned(),
            reason: line(&self.reason).into_owned(),
            connection: line(&self.connection).into_owned(),
            repository: line(&run.repository).into_owned(),
            run_id: line(run.run_id.as_str()).into_owned(),
            git_ref: opt(&run.git_ref),
            environment: opt(&run.environment),
            actor: opt(&run.actor),
            event: opt(&run.event),
            run_url: opt(&run.run_url),
        }
    }
}

/// A notification channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Webhook,
    Github,
    Gitlab,
}

impl Channel {
    /// The channel's key in `[approvals.notify]` and in log fields.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Webhook => "webhook",
            Channel::Github => "github",
            Channel::Gitlab => "gitlab",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Channel::Webhook => "webhook",
            Channel::Github => "GitHub",
            Channel::Gitlab => "GitLab",
        })
    }
}

/// Why a notification was not delivered, or a notifier not built. Messages name the channel,
/// the endpoint and the answer; never a token or the webhook secret.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// An unusable `[approvals.notify]` value (or a secret that cannot be read).
    #[error("approvals.notify.{key}: {message}")]
    Config { key: &'static str, message: String },
    #[error("cannot build the {channel} client: {message}")]
    Client { channel: Channel, message: String },
    /// The run cannot be addressed on this channel; not retried.
    #[error("{channel}: cannot notify about run {run_id} of {repository:?}: {reason}")]
    Target {
        channel: Channel,
        repository: String,
        run_id: String,
        reason: String,
    },
    /// No answer: connection, TLS, timeout, or an unreadable response.
    #[error("{channel}: POST {endpoint}: no answer: {message}")]
    Unreachable {
        channel: Channel,
        endpoint: String,
        message: String,
    },
    /// An answer other than 2xx, with the API's own message.
    #[error("{channel}: POST {endpoint} answered HTTP {status}: {message}")]
    Rejected {
        channel: Channel,
        endpoint: String,
        status: u16,
        message: String,
    },
}

impl NotifyError {
    /// Whether another try may succeed: only failures of the exchange itself are retried.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            NotifyError::Unreachable { .. } | NotifyError::Rejected { .. }
        )
    }
}

/// An error with its causes, `: `-separated: reqwest's and hyper's top-level messages alone
/// ("error sending request") do not say what failed.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A URL as shown in messages: without user info, query or fragment, which may carry secrets.
fn shown_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// The start of an error body, for a message.
fn body_excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(200).collect()
}

/// What to do after a failed try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    RetryAfter(Duration),
    GiveUp,
}

/// The retry schedule of one delivery: exponential, capped, jittered ([`Backoff`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Retry {
    attempts: u32,
    backoff: Duration,
    max_backoff: Duration,
}

impl Retry {
    fn backoff(&self) -> Backoff {
        Backoff::new(self.backoff, self.max_backoff)
    }

    /// After failed try number `attempt` (1-based): wait what `backoff` says (about
    /// `backoff * 2^(attempt-1)`, at most `max_backoff`), or give up when that was the last try.
    fn after_failure(&self, attempt: u32, backoff: &mut Backoff) -> Next {
        if attempt >= self.attempts {
            return Next::GiveUp;
        }
        Next::RetryAfter(backoff.fail())
    }
}

/// One planned delivery: a channel and where on it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Delivery {
    Webhook,
    Github(github::Target),
    Gitlab(gitlab::Target),
}

/// Whether and where a run can be notified on a forge channel.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Address<T> {
    /// The run is another provider's.
    NotApplicable,
    /// The run's repository, ref or commit cannot be used (not retried).
    Invalid(String),
    At(T),
}

/// The configured channels, shared by the delivery tasks.
struct Channels {
    webhook: Option<webhook::WebhookChannel>,
    github: Option<github::GithubChannel>,
    gitlab: Option<gitlab::GitlabChannel>,
}

/// Sends approval notices. Build with [`Notifier::new`]; cloning is cheap.
#[derive(Clone)]
pub struct Notifier {
    channels: Arc<Channels>,
    retry: Retry,
    /// Stops the deliveries still retrying when hoop shuts down ([`Notifier::stop`]).
    stop: Arc<ShutdownTrigger>,
    stopping: Shutdown,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("channels", &self.channels().collect::<Vec<_>>())
            .field("retry", &self.retry)
            .finish()
    }
}

impl Notifier {
    /// Validates the configuration, reads the secrets (a missing one fails here, naming its
    /// key) and builds the clients. Nothing is requested yet.
    pub fn new(config: &NotifyConfig, env: &dyn SecretEnv) -> Result<Notifier, NotifyError> {
        config.validate()?;
        let secret = |key: &'static str, source: &SecretSource| {
            source.resolve(env).map_err(|e| NotifyError::Config {
                key,
                message: e.to_string(),
            })
        };
        let webhook = match &config.webhook {
            Some(w) => {
                let key = secret("webhook.secret", &w.secret)?;
                if key.expose().len() < MIN_WEBHOOK_SECRET_BYTES {
                    return Err(NotifyError::Config {
                        key: "webhook.secret",
                        message: format!(
                            "must be at least {MIN_WEBHOOK_SECRET_BYTES} bytes (e.g. `openssl rand -hex 32`)"
                        ),
                    });
                }
                Some(webhook::WebhookChannel::new(&w.url, &key, config.timeout)?)
            }
            None => None,
        };
        let github = match &config.github {
            Some(g) => {
                let token = secret("github.token", &g.token)?;
                Some(github::GithubChannel::new(
                    &g.api_url,
                    &token,
                    config.timeout,
                )?)
            }
            None => None,
        };
        let gitlab = match &config.gitlab {
            Some(g) => {
                let token = secret("gitlab.token", &g.token)?;
                Some(gitlab::GitlabChannel::new(&g.url, &token, config.timeout)?)
            }
            None => None,
        };
        let (stop, stopping) = Shutdown::new();
        Ok(Notifier {
            stop: Arc::new(stop),
            stopping,
            channels: Arc::new(Channels {
                webhook,
                github,
                gitlab,
            }),
            retry: Retry {
                attempts: config.attempts,
                backoff: config.backoff,
                max_backoff: config.max_backoff,
            },
        })
    }

    /// Ends the deliveries still being retried (hoop is shutting down); new notices are not
    /// sent either.
    pub fn stop(&self) {
        self.stop.trigger();
    }

    /// No channel is configured.
    pub fn is_empty(&self) -> bool {
        self.channels().next().is_none()
    }

    /// The configured channels.
    pub fn channels(&self) -> impl Iterator<Item = Channel> + '_ {
        let c = &self.channels;
        [
            c.webhook.as_ref().map(|_| Channel::Webhook),
            c.github.as_ref().map(|_| Channel::Github),
            c.gitlab.as_ref().map(|_| Channel::Gitlab),
        ]
        .into_iter()
        .flatten()
    }

    /// Fire and forget: one task per channel that applies, each retried on its schedule; every
    /// failure is logged (target `hoop::approvals`), the last one at error level. Never blocks;
    /// outside a tokio runtime it logs an error and sends nothing.
    pub fn notify(&self, notice: Notice) {
        if self.stopping.is_triggered() {
            tracing::warn!(target: LOG_TARGET, approval_id = %notice.approval_id, "approval notification not sent: hoop is shutting down");
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(
                target: LOG_TARGET,
                approval_id = %notice.approval_id,
                "approval notifications not sent: no async runtime"
            );
            return;
        };
        let notice = Arc::new(notice);
        // One delivery id per notice, the same on every try, so a receiver can de-duplicate.
        let delivery_id = uuid::Uuid::new_v4();
        for (channel, planned) in self.channels.plan(&notice) {
            match planned {
                Ok(delivery) => {
                    let channels = Arc::clone(&self.channels);
                    let notice = Arc::clone(&notice);
                    let retry = self.retry;
                    let stopping = self.stopping.clone();
                    runtime.spawn(async move {
                        let delivering = channels.deliver_with_retries(
                            channel,
                            &delivery,
                            &notice,
                            delivery_id,
                            retry,
                        );
                        tokio::select! {
                            () = delivering => {}
                            () = stopping.wait() => tracing::warn!(
                                target: LOG_TARGET,
                                channel = channel.as_str(),
                                approval_id = %notice.approval_id,
                                "approval notification abandoned: hoop is shutting down"
                            ),
                        }
                    });
                }
                Err(error) => tracing::error!(
                    target: LOG_TARGET,
                    channel = channel.as_str(),
                    approval_id = %notice.approval_id,
                    %error,
                    "approval notification not sent"
                ),
            }
        }
    }

    /// One try on every channel that applies to this notice, awaited in turn. Channels that do
    /// not apply (another provider's run) are absent from the result.
    pub async fn deliver_once(&self, notice: &Notice) -> Vec<(Channel, Result<(), NotifyError>)> {
        let delivery_id = uuid::Uuid::new_v4();
        let mut results = Vec::new();
        for (channel, planned) in self.channels.plan(notice) {
            let result = match planned {
                Ok(delivery) => self.channels.attempt(&delivery, notice, delivery_id).await,
                Err(e) => Err(e),
            };
            results.push((channel, result));
        }
        results
    }
}

impl Channels {
    /// The deliveries a notice gets: the webhook always, a forge only for its own runs.
    fn plan(&self, notice: &Notice) -> Vec<(Channel, Result<Delivery, NotifyError>)> {
        let target_error = |channel, reason| NotifyError::Target {
            channel,
            repository: notice.run.repository.clone(),
            run_id: notice.run.run_id.to_string(),
            reason,
        };
        let mut plan = Vec::new();
        if self.webhook.is_some() {
            plan.push((Channel::Webhook, Ok(Delivery::Webhook)));
        }
        if self.github.is_some() {
            match github::address(&notice.run) {
                Address::NotApplicable => {}
                Address::Invalid(reason) => {
                    plan.push((Channel::Github, Err(target_error(Channel::Github, reason))));
                }
                Address::At(target) => plan.push((Channel::Github, Ok(Delivery::Github(target)))),
            }
        }
        if self.gitlab.is_some() {
            match gitlab::address(&notice.run) {
                Address::NotApplicable => {}
                Address::Invalid(reason) => {
                    plan.push((Channel::Gitlab, Err(target_error(Channel::Gitlab, reason))));
                }
                Address::At(target) => plan.push((Channel::Gitlab, Ok(Delivery::Gitlab(target)))),
            }
        }
        plan
    }

    /// One try of one delivery.
    async fn attempt(
        &self,
        delivery: &Delivery,
        notice: &Notice,
        delivery_id: uuid::Uuid,
    ) -> Result<(), NotifyError> {
        // `plan` only yields deliveries of configured channels.
        let missing = |channel| NotifyError::Client {
            channel,
            message: "not configured".into(),
        };
        match delivery {
            Delivery::Webhook => {
                let webhook = self.webhook.as_ref().ok_or(missing(Channel::Webhook))?;
                webhook.deliver(notice, delivery_id).await
            }
            Delivery::Github(target) => {
                let github = self.github.as_ref().ok_or(missing(Channel::Github))?;
                github.deliver(target, &comment_body(notice)).await
            }
            Delivery::Gitlab(target) => {
                let gitlab = self.gitlab.as_ref().ok_or(missing(Channel::Gitlab))?;
                gitlab.deliver(target, &comment_body(notice)).await
            }
        }
    }

    async fn deliver_with_retries(
        &self,
        channel: Channel,
        delivery: &Delivery,
        notice: &Notice,
        delivery_id: uuid::Uuid,
        retry: Retry,
    ) {
        let approval_id = notice.approval_id;
        let mut attempt = 1;
        let mut backoff = retry.backoff();
        loop {
            let error = match self.attempt(delivery, notice, delivery_id).await {
                Ok(()) => {
                    tracing::info!(
                        target: LOG_TARGET,
                        channel = channel.as_str(),
                        %approval_id,
                        attempt,
                        "approval notification delivered"
                    );
                    return;
                }
                Err(error) => error,
            };
            let next = if error.is_retryable() {
                retry.after_failure(attempt, &mut backoff)
            } else {
                Next::GiveUp
            };
            match next {
                Next::RetryAfter(wait) => {
                    tracing::warn!(
                        target: LOG_TARGET,
                        channel = channel.as_str(),
                        %approval_id,
                        attempt,
                        %error,
                        "approval notification failed; trying again in {wait:?}"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Next::GiveUp => {
                    tracing::error!(
                        target: LOG_TARGET,
                        channel = channel.as_str(),
                        %approval_id,
                        attempt,
                        %error,
                        "approval notification failed; giving up after {attempt} tries"
                    );
                    return;
                }
            }
        }
    }
}

/// The comment posted on a pull/merge request or commit. Everything but the statement and the
/// links is in code spans, so a reason or name quoting SQL identifiers cannot render as links,
/// mentions or HTML; the statement is in a fence that nothing inside it can close. Every text
/// a client or a token chose is shown with its hidden characters escaped
/// ([`crate::display`]): a bidi override or a zero-width space in a statement shows as
/// `\u{202e}`, not as reordered or joined text.
fn comment_body(notice: &Notice) -> String {
    let run = &notice.run;
    // Escaped before it is cut, so the cut bounds what is posted (escapes are longer).
    let shown = crate::display::text(&notice.statement);
    let statement = truncated(&shown, MAX_COMMENT_STATEMENT_CHARS);
    let fence = backtick_fence(statement, 3);
    let mut body = String::new();
    body.push_str("### hoop: approval requested\n\n");
    body.push_str(&format!(
        "A statement on connection {} is held until an approver decides.\n\n",
        code(&notice.connection)
    ));
    body.push_str(&format!("- **Rule:** {}\n", code(&notice.rule)));
    body.push_str(&format!("- **Reason:** {}\n", code(&notice.reason)));
    let mut run_line = format!(
        "- **Run:** {} run {} attempt {}",
        code(&run.repository),
        code(run.run_id.as_str()),
        run.attempt
    );
    if let Some(actor) = &run.actor {
        run_line.push_str(&format!(" by {}", code(actor)));
    }
    if let Some(url) = &run.run_url {
        run_line.push_str(&format!(" ({})", link(url)));
    }
    body.push_str(&run_line);
    body.push('\n');
    if let Some(environment) = &run.environment {
        body.push_str(&format!("- **Environment:** {}\n", code(environment)));
    }
    body.push_str(&format!(
        "- **Expires:** {}\n\n",
        notice.expires_at.format("%Y-%m-%d %H:%M:%S UTC")
    ));
    body.push_str(&format!("{fence}sql\n{statement}\n{fence}\n"));
    if statement.len() < shown.len() {
        body.push_str(&format!(
            "\n(truncated: {} bytes in all; the approval holds the whole statement)\n",
            notice.statement.len()
        ));
    }
    body.push_str(&format!(
        "\nApprove with {} (how to see and decide it: {})\n\nApproval {}",
        code(&notice.approve_command),
        notice.approve_url,
        code(&notice.approval_id.to_string())
    ));
    body
}

/// At most `max` characters of `text`, cut on a character boundary.
fn truncated(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// A run of backticks longer than any inside `text`, and at least `min` long: a code fence or
/// span `text` cannot close.
fn backtick_fence(text: &str, min: usize) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(min.max(longest + 1))
}

/// `text` as one inline code span, on one line, its hidden characters escaped (line breaks
/// too, so the span cannot end early).
fn code(text: &str) -> String {
    let line = crate::display::line(text);
    let fence = backtick_fence(&line, 1);
    // CommonMark strips one space on each side when both are present: pad a span that starts
    // or ends with a backtick so it does not join the fence.
    if line.starts_with('`') || line.ends_with('`') {
        format!("{fence} {line} {fence}")
    } else {
        format!("{fence}{line}{fence}")
    }
}

/// A URL built from claims, as Markdown: bare when it holds only characters that cannot start
/// Markdown or HTML (so GitHub and GitLab link it), otherwise as a code span, never a link.
fn link(url: &str) -> String {
    let plain = url.starts_with("https://")
        && url
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~:/?#@&=%+,;".contains(&b));
    if plain { url.to_owned() } else { code(url) }
}

/// Whether `text` is a commit id: 7 to 64 hex digits (abbreviated, SHA-1 or SHA-256).
fn is_commit_sha(text: &str) -> bool {
    (7..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::identity::{Provider, RunId};

    const TOKEN: &str = "ghp_unit-test-token-value";
    const SECRET: &str = "webhook-unit-test-secret";

    /// A GitHub push run's notice; tests change what they need.
    pub(super) fn notice() -> Notice {
        let requested_at = DateTime::from_timestamp(1_750_000_000, 0).unwrap();
        let approval_id = uuid::Uuid::from_u128(0x1234);
        Notice {
            approval_id,
            rule: "payments-writes".into(),
            reason: "UPDATE of public.payments".into(),
            statement: "UPDATE payments SET state = 'void' WHERE id = 7".into(),
            connection: "ledger".into(),
            run: RunIdentity {
                provider: Provider::Github,
                repository: "acme/payments".into(),
                repository_id: "42".into(),
                owner: "acme".into(),
                owner_id: "1".into(),
                run_id: RunId::new("9001").unwrap(),
                attempt: 2,
                job_id: None,
                git_ref: Some("refs/heads/main".into()),
                sha: Some("0123456789abcdef0123456789abcdef01234567".into()),
                workflow: None,
                environment: Some("production".into()),
                actor: Some("octocat".into()),
                actor_id: Some("5".into()),
                event: Some("push".into()),
                pull_request: false,
                run_url: Some(
                    "https://github.com/acme/payments/actions/runs/9001/attempts/2".into(),
                ),
            },
            requested_at,
            expires_at: requested_at + chrono::Duration::minutes(15),
            approve_url: format!("https://hoop.example.com/approvals/{approval_id}"),
            approve_command: format!("hoop approvals approve {approval_id}"),
        }
    }

    fn config(text: &str) -> Result<NotifyConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn the_schedule_doubles_up_to_the_cap_and_stops_at_the_last_try() {
        let retry = Retry {
            attempts: 5,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5),
        };
        let mut backoff = retry.backoff();
        let waits: Vec<Next> = (1..=5)
            .map(|n| retry.after_failure(n, &mut backoff))
            .collect();
        assert_eq!(waits[4], Next::GiveUp);
        // Jittered into [½, 1] of 1s, 2s, 4s, then the 5s cap.
        for (wait, nominal) in waits[..4].iter().zip([1, 2, 4, 5]) {
            let nominal = Duration::from_secs(nominal);
            assert!(
                matches!(wait, Next::RetryAfter(w) if *w <= nominal && *w >= nominal / 2),
                "{wait:?} for {nominal:?}"
            );
        }
        let once = Retry {
            attempts: 1,
            ..retry
        };
        assert_eq!(once.after_failure(1, &mut once.backoff()), Next::GiveUp);
        let long = Retry {
            attempts: MAX_ATTEMPTS,
            backoff: Duration::from_secs(3600),
            max_backoff: Duration::from_secs(7200),
        };
        let mut backoff = long.backoff();
        let last = (1..MAX_ATTEMPTS)
            .map(|n| long.after_failure(n, &mut backoff))
            .last()
            .unwrap();
        assert!(
            matches!(last, Next::RetryAfter(w) if w <= Duration::from_secs(7200) && w >= Duration::from_secs(3600)),
            "{last:?}"
        );
    }

    #[test]
    fn fences_are_longer_than_any_backtick_run_inside() {
        assert_eq!(backtick_fence("SELECT 1", 3), "```");
        assert_eq!(backtick_fence("SELECT '```'", 3), "````");
        assert_eq!(backtick_fence("a ````` b `` c", 3), "``````");
        assert_eq!(code("rule"), "`rule`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(code("two\nlines"), "`two\\u{a}lines`");
    }

    #[test]
    fn hidden_characters_show_in_the_comment() {
        let mut n = notice();
        n.statement =
            "UPDATE payments SET state = 'void' -- \u{202e}evird\u{202c}\nWHERE\u{200b} id = 7"
                .into();
        n.reason = "a \u{2066}reason\u{2069}".into();
        n.rule = "rule\u{e0041}".into();
        n.run.repository = "acme/pay\u{feff}ments".into();
        n.run.actor = Some("octo\u{200d}cat\u{2028}".into());
        n.run.environment = Some("prod\u{180e}".into());
        let body = comment_body(&n);
        for part in [
            "-- \\u{202e}evird\\u{202c}\nWHERE\\u{200b} id = 7",
            "`a \\u{2066}reason\\u{2069}`",
            "`rule\\u{e0041}`",
            "`acme/pay\\u{feff}ments`",
            "`octo\\u{200d}cat\\u{2028}`",
            "`prod\\u{180e}`",
        ] {
            assert!(body.contains(part), "{part} missing from:\n{body}");
        }
        for hidden in [
            '\u{202e}',
            '\u{202c}',
            '\u{200b}',
            '\u{2066}',
            '\u{e0041}',
            '\u{feff}',
            '\u{200d}',
            '\u{2028}',
            '\u{180e}',
        ] {
            assert!(
                !body.contains(hidden),
                "U+{:04X} in:\n{body}",
                u32::from(hidden)
            );
        }
    }

    #[test]
    fn escaped_statements_are_cut_after_escaping() {
        let mut n = notice();
        n.statement = "\u{200b}".repeat(MAX_COMMENT_STATEMENT_CHARS);
        let body = comment_body(&n);
        assert!(
            body.chars().count() < MAX_COMMENT_STATEMENT_CHARS + 2_000,
            "{}",
            body.len()
        );
        assert!(body.contains("(truncated: "), "{body}");
    }

    #[test]
    fn only_plain_urls_are_linked() {
        let url = "https://github.com/acme/payments/actions/runs/9001/attempts/2";
        assert_eq!(link(url), url);
        assert_eq!(
            link("https://gitlab.example.com/g/p](https://evil.example)"),
            "`https://gitlab.example.com/g/p](https://evil.example)`"
        );
        assert_eq!(link("javascript:alert(1)"), "`javascript:alert(1)`");
        assert_eq!(link("https://x.example/<b>"), "`https://x.example/<b>`");
    }

    #[test]
    fn a_statement_cannot_close_its_fence() {
        let mut n = notice();
        n.statement = "SELECT 1;\n```\n@everyone [approve](https://evil.example)\n```".into();
        let body = comment_body(&n);
        assert!(
            body.contains("````sql\nSELECT 1;\n```\n@everyone"),
            "{body}"
        );
        assert!(body.contains("```\n````\n"), "{body}");
    }

    #[test]
    fn the_comment_says_what_is_held_and_how_to_approve() {
        let n = notice();
        let body = comment_body(&n);
        for part in [
            "`payments-writes`",
            "`UPDATE of public.payments`",
            "```sql\nUPDATE payments SET state = 'void' WHERE id = 7\n```",
            "`acme/payments` run `9001` attempt 2 by `octocat`",
            "https://github.com/acme/payments/actions/runs/9001/attempts/2",
            "`production`",
            "2025-06-15 15:21:40 UTC",
            &format!("`{}`", n.approve_command),
            &n.approve_url,
        ] {
            assert!(body.contains(part), "{part} missing from:\n{body}");
        }
    }

    #[test]
    fn long_statements_are_cut_on_a_character_boundary() {
        let mut n = notice();
        n.statement = "é".repeat(MAX_COMMENT_STATEMENT_CHARS + 10);
        let body = comment_body(&n);
        assert!(body.contains(&"é".repeat(MAX_COMMENT_STATEMENT_CHARS)));
        assert!(!body.contains(&"é".repeat(MAX_COMMENT_STATEMENT_CHARS + 1)));
        assert!(body.contains("(truncated: "), "{body}");
        assert_eq!(truncated("abc", 5), "abc");
    }

    #[test]
    fn the_config_has_defaults_and_refuses_unknown_keys() {
        let c = config("").unwrap();
        assert_eq!(c.attempts, 5);
        assert_eq!(c.backoff, Duration::from_secs(1));
        assert_eq!(c.max_backoff, Duration::from_secs(60));
        assert_eq!(c.timeout, Duration::from_secs(10));
        let c = config(
            "attempts = 3\nbackoff = \"10ms\"\n[github]\ntoken = { env = \"GH\" }\n\
             [gitlab]\ntoken = \"t\"\nurl = \"https://gitlab.example.com\"\n\
             [webhook]\nurl = \"https://hooks.example.com/hoop\"\nsecret = { file = \"/run/s\" }\n",
        )
        .unwrap();
        assert_eq!(c.attempts, 3);
        assert_eq!(c.backoff, Duration::from_millis(10));
        assert_eq!(
            c.github.unwrap().api_url.as_str(),
            "https://api.github.com/"
        );
        assert!(config("retries = 3").is_err());
        assert!(config("[github]\ntoken = \"t\"\nurl = \"https://x\"").is_err());
    }

    #[test]
    fn validation_names_the_key() {
        let check = |text: &str| config(text).unwrap().validate().unwrap_err().to_string();
        assert!(check("attempts = 0").starts_with("approvals.notify.attempts:"));
        assert!(check("attempts = 21").starts_with("approvals.notify.attempts:"));
        assert!(check("backoff = \"2m\"").starts_with("approvals.notify.backoff:"));
        assert!(check("timeout = \"0s\"").starts_with("approvals.notify.timeout:"));
        let e = check("[webhook]\nurl = \"http://hooks.example.com/x?key=abc\"\nsecret = \"s\"");
        assert!(e.starts_with("approvals.notify.webhook.url:"), "{e}");
        assert!(!e.contains("key=abc"), "{e}");
        let e = check("[gitlab]\ntoken = \"t\"\nurl = \"http://gitlab.example.com\"");
        assert!(e.starts_with("approvals.notify.gitlab.url:"), "{e}");
        config("[webhook]\nurl = \"http://127.0.0.1:9/x\"\nsecret = \"s\"")
            .unwrap()
            .validate()
            .unwrap();
    }

    #[test]
    fn secrets_are_read_through_the_env_and_named_when_missing() {
        let c = config(
            "[webhook]\nurl = \"https://hooks.example.com/hoop\"\nsecret = { env = \"HOOK\" }\n\
             [github]\ntoken = { env = \"GH\" }\n",
        )
        .unwrap();
        let env = HashMap::from([("HOOK".to_string(), SECRET.to_string())]);
        let e = Notifier::new(&c, &env).unwrap_err().to_string();
        assert_eq!(
            e,
            "approvals.notify.github.token: environment variable GH is not set"
        );
        let short = HashMap::from([("HOOK".to_string(), "short".to_string())]);
        let e = Notifier::new(&c, &short).unwrap_err().to_string();
        assert!(e.starts_with("approvals.notify.webhook.secret:"), "{e}");
        assert!(!e.contains("short"), "{e}");
    }

    #[tokio::test]
    async fn nothing_rendered_or_formatted_holds_a_secret() {
        let c = config(&format!(
            "[webhook]\nurl = \"https://hooks.example.com/hoop\"\nsecret = \"{SECRET}\"\n\
             [github]\ntoken = \"{TOKEN}\"\n\
             [gitlab]\ntoken = \"{TOKEN}\"\nurl = \"https://gitlab.example.com\"\n"
        ))
        .unwrap();
        let notifier = Notifier::new(&c, &HashMap::new()).unwrap();
        assert!(!notifier.is_empty());
        assert_eq!(
            notifier.channels().collect::<Vec<_>>(),
            [Channel::Webhook, Channel::Github, Channel::Gitlab]
        );
        let n = notice();
        let rendered = [
            comment_body(&n),
            serde_json::to_string(&n).unwrap(),
            format!("{n:?}"),
            format!("{notifier:?}"),
            format!("{c:?}"),
        ];
        for text in rendered {
            assert!(!text.contains(TOKEN) && !text.contains(SECRET), "{text}");
        }
        let bad = config("[github]\ntoken = \"ghp_a\\nb\"").unwrap();
        let e = Notifier::new(&bad, &HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("approvals.notify.github.token:") && !e.contains("ghp_a"),
            "{e}"
        );
    }

    #[test]
    fn an_empty_config_notifies_nobody() {
        let notifier = Notifier::new(&NotifyConfig::default(), &HashMap::new()).unwrap();
        assert!(notifier.is_empty());
    }

    #[test]
    fn urls_in_messages_lose_user_info_and_query() {
        let url = Url::parse("https://u:p@hooks.example.com/hoop?token=abc#f").unwrap();
        assert_eq!(shown_url(&url), "https://hooks.example.com/hoop");
    }
}
