//! The run watcher: the safety net for credentials whose run never revoked them (a cancelled
//! job, a dead runner). Every `interval` it reads the live credentials, asks the CI API about
//! each run once (GitHub: the run attempt; GitLab: the job), and revokes the credentials of
//! runs that have completed or no longer exist.
//!
//! [`decision::decide`] turns each answer into a typed verdict (revoke / keep) and gate (go on /
//! pause until a rate limit resets / back off); this module only acts on them. The clients
//! ([`github`], [`gitlab`]) are thin and never decide.
//!
//! Architecture Invariant: the watcher revokes only on an answer that says the run is over or
//! gone; auth errors, rate limits, failures and unknown answers keep the credential (it still
//! expires at its TTL).

mod config;
pub mod decision;
mod github;
mod gitlab;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::base::Backoff;
use crate::base::CredentialId;
use crate::base::SecretEnv;
use crate::base::Shutdown;
use crate::exchange::Broker;
use crate::identity::Provider;
use crate::state::StateError;
use crate::state::credentials::{self as creds, LiveRun};
pub use config::WatcherConfig;
use decision::{Decision, Gate, Observation, Verdict, WatchedRun, decide, provider_backoff};

/// The advisory lock held (per transaction) by the replica running a pass, so replicas sharing
/// a state database do not each spend the API's rate limit on the same runs.
pub const PASS_LOCK_KEY: i64 = 0x686f_6f70_7761_7463; // "hoopwatc"

#[derive(Debug, thiserror::Error)]
pub enum WatcherError {
    #[error("watcher.{key}: {reason}")]
    Secret {
        key: &'static str,
        reason: crate::base::SecretError,
    },
    #[error("watcher.gitlab_url: set it (there is no gitlab issuer to take it from)")]
    NoGitlabUrl,
    #[error("cannot build the {provider} API client: {message}")]
    Client {
        provider: &'static str,
        message: String,
    },
    #[error("watcher.{0} cannot be sent in an HTTP header (a newline or control character?)")]
    BadToken(&'static str),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("HTTP request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("cannot build an HTTP request: {0}")]
    Request(#[from] http::Error),
}

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Another replica was running a pass: this one asked nothing.
    pub skipped: bool,
    /// Runs (GitHub run attempts, GitLab jobs) whose API was asked.
    pub checked: usize,
    /// Credentials revoked because their run completed or is gone.
    pub revoked: usize,
    /// Revocations that failed; the credential stays live and is tried again next pass.
    pub failed: usize,
    /// Runs not asked about because their provider is rate limited, backing off, or refused
    /// the token earlier in the pass.
    pub deferred: usize,
    /// Live credentials nobody can watch: no token for their provider, or no job id (GitLab).
    pub unwatched: usize,
}

/// Whether a provider may be asked now, and its failure streak.
struct ProviderState {
    closed_until: Option<DateTime<Utc>>,
    backoff: Backoff,
}

impl Default for ProviderState {
    fn default() -> Self {
        ProviderState {
            closed_until: None,
            backoff: provider_backoff(),
        }
    }
}

/// What the watcher needs to know of the configured issuers: how many of each provider (one
/// API is asked about all of a provider's runs), and the GitLab instance to ask.
#[derive(Clone, Debug, Default)]
pub struct WatchedIssuers {
    pub github: usize,
    pub gitlab: usize,
    /// `watcher.gitlab_url`, or the URL of the one gitlab issuer.
    pub gitlab_url: Option<String>,
}

impl WatchedIssuers {
    fn count(&self, provider: Provider) -> usize {
        match provider {
            Provider::Github => self.github,
            Provider::Gitlab => self.gitlab,
        }
    }
}

/// Polls CI APIs and revokes the credentials of finished runs. Build with [`Watcher::new`],
/// then [`Watcher::run`] it, or call [`Watcher::pass`] (tests).
pub struct Watcher {
    broker: Arc<Broker>,
    interval: Duration,
    github: Option<github::GithubClient>,
    gitlab: Option<gitlab::GitlabClient>,
    providers: Mutex<HashMap<Provider, ProviderState>>,
}

impl Watcher {
    /// Reads the tokens (a missing one fails here, naming its key) and builds the clients of
    /// the configured providers. Nothing is requested yet.
    pub fn new(
        broker: Arc<Broker>,
        config: &WatcherConfig,
        issuers: &WatchedIssuers,
        env: &dyn SecretEnv,
    ) -> Result<Watcher, WatcherError> {
        let secret = |key: &'static str, source: &crate::base::SecretSource| {
            source
                .resolve(env)
                .map_err(|reason| WatcherError::Secret { key, reason })
        };
        let github = match &config.github_token {
            Some(source) => {
                let token = secret("github_token", source)?;
                Some(github::GithubClient::new(&config.github_api_url, &token)?)
            }
            None => None,
        };
        let gitlab = match &config.gitlab_token {
            Some(source) => {
                let token = secret("gitlab_token", source)?;
                let instance = issuers
                    .gitlab_url
                    .clone()
                    .ok_or(WatcherError::NoGitlabUrl)?;
                Some(gitlab::GitlabClient::new(&instance, &token)?)
            }
            None => None,
        };
        for (kind, watched) in [
            (Provider::Github, github.is_some()),
            (Provider::Gitlab, gitlab.is_some()),
        ] {
            let issuers = issuers.count(kind);
            if watched && issuers > 1 {
                tracing::warn!(
                    provider = kind.as_str(),
                    issuers,
                    "the watcher asks one {} API about the runs of every {} issuer; runs of the \
                     others are kept until they expire",
                    kind.as_str(),
                    kind.as_str()
                );
            }
        }
        Ok(Watcher {
            broker,
            interval: config.interval,
            github,
            gitlab,
            providers: Mutex::new(HashMap::new()),
        })
    }

    /// Runs a pass every `interval` until `shutdown`. A pass cut short by shutdown leaves at
    /// most one revocation half done, which the next pass or the reaper completes (dropping a
    /// role is idempotent).
    pub async fn run(self, shutdown: Shutdown) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stop = shutdown.wait();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = ticker.tick() => {}
            }
            tokio::select! {
                () = &mut stop => return,
                result = self.pass() => match result {
                    Ok(report) if report.revoked + report.failed > 0 => {
                        tracing::info!(?report, "watcher pass");
                    }
                    Ok(report) => tracing::debug!(?report, "watcher pass"),
                    Err(e) => tracing::warn!(error = %e, "watcher pass failed; will retry"),
                },
            }
        }
    }

    /// One pass over the live credentials. Returns without asking anything when another
    /// replica holds the pass lock.
    pub async fn pass(&self) -> Result<PassReport, WatcherError> {
        let mut report = PassReport::default();
        let mut client = self.broker.store().client().await?;
        // The transaction only scopes the advisory lock; it is never written to.
        let tx = client.transaction().await.map_err(StateError::from)?;
        let locked: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&PASS_LOCK_KEY])
            .await
            .map_err(StateError::from)?
            .get(0);
        if !locked {
            report.skipped = true;
            return Ok(report);
        }
        let live = creds::live_runs(&tx).await?;
        let Grouped { runs, unwatchable } = group(&live);
        for (id, why) in unwatchable {
            tracing::debug!(credential_id = %id, "not watched: {why}");
            report.unwatched += 1;
        }

        let mut stopped = HashSet::new();
        let mut refused: HashMap<Provider, (usize, String)> = HashMap::new();
        for (run, ids) in runs {
            let provider = run.provider();
            let watched = match provider {
                Provider::Github => self.github.is_some(),
                Provider::Gitlab => self.gitlab.is_some(),
            };
            if !watched {
                report.unwatched += ids.len();
                continue;
            }
            if stopped.contains(&provider) || self.closed(provider, Utc::now()) {
                report.deferred += 1;
                continue;
            }
            let observation = self.observe(&run).await;
            report.checked += 1;
            let Decision { verdict, gate } = decide(&run, &observation, Utc::now());
            match verdict {
                Verdict::Revoke { code, why } => {
                    for id in ids {
                        match self.broker.revoke_because(id, code, &why).await {
                            Ok(_) => {
                                tracing::info!(credential_id = %id, code, "revoked: {why}");
                                report.revoked += 1;
                            }
                            Err(e) => {
                                tracing::warn!(credential_id = %id, code, error = %e, "cannot revoke a credential of a finished run; will retry");
                                report.failed += 1;
                            }
                        }
                    }
                }
                Verdict::Keep => {}
                Verdict::Unauthorized { status, message } => {
                    let entry = refused.entry(provider).or_insert((0, String::new()));
                    entry.0 += 1;
                    entry.1 = format!("{run}: {status} {message}");
                }
                Verdict::Unknown { reason } => {
                    tracing::debug!(%run, "run state unknown: {reason}");
                }
            }
            self.apply(provider, gate, &mut stopped);
        }
        // Once per pass and provider: a wrong token would otherwise log a line per run.
        for (provider, (runs, example)) in refused {
            tracing::warn!(
                provider = provider.as_str(),
                runs,
                "the watcher's token may not read these runs (GitHub needs actions:read, GitLab \
                 read_api); their credentials are kept until they expire. Last: {example}"
            );
        }
        tx.commit().await.map_err(StateError::from)?;
        Ok(report)
    }

    async fn observe(&self, run: &WatchedRun) -> Observation {
        match (run, &self.github, &self.gitlab) {
            (
                WatchedRun::Github {
                    repository,
                    run_id,
                    attempt,
                },
                Some(client),
                _,
            ) => client.observe(repository, *run_id, *attempt).await,
            (
                WatchedRun::Gitlab {
                    project_id, job_id, ..
                },
                _,
                Some(client),
            ) => client.observe(*project_id, *job_id).await,
            // Runs of providers without a client are skipped before they get here.
            _ => Observation {
                answer: decision::Answer::Unreachable(format!("no client for {run}")),
                limits: decision::RateLimit::default(),
            },
        }
    }

    fn closed(&self, provider: Provider, now: DateTime<Utc>) -> bool {
        let providers = self.providers.lock().unwrap_or_else(|e| e.into_inner());
        providers
            .get(&provider)
            .and_then(|p| p.closed_until)
            .is_some_and(|until| until > now)
    }

    /// Acts on a gate: rate limits and backoffs close the provider until a time (logged at
    /// warn, as they delay revocations); answers reset the backoff.
    fn apply(&self, provider: Provider, gate: Gate, stopped: &mut HashSet<Provider>) {
        let mut providers = self.providers.lock().unwrap_or_else(|e| e.into_inner());
        let state = providers.entry(provider).or_default();
        match gate {
            Gate::Open => state.backoff.succeed(),
            Gate::Pause { until, cause } => {
                state.backoff.succeed();
                state.closed_until = Some(until);
                tracing::warn!(
                    provider = provider.as_str(),
                    until = %until.to_rfc3339(),
                    "{} API rate limit: no requests until then ({cause})",
                    provider.as_str()
                );
            }
            Gate::BackOff { cause } => {
                let delay = state.backoff.fail();
                let until = Utc::now() + chrono::TimeDelta::from_std(delay).unwrap_or_default();
                state.closed_until = Some(until);
                tracing::warn!(
                    provider = provider.as_str(),
                    failures = state.backoff.failures(),
                    delay = %humantime::format_duration(Duration::from_secs(delay.as_secs())),
                    "{} API failing ({cause}); backing off",
                    provider.as_str()
                );
            }
            Gate::StopPass => {
                state.backoff.succeed();
                stopped.insert(provider);
            }
        }
    }
}

/// Live credentials by the run the API is asked about.
#[derive(Debug, Default)]
pub struct Grouped {
    /// Each run once, with its credentials, in the order they were issued.
    pub runs: Vec<(WatchedRun, Vec<CredentialId>)>,
    /// Credentials that cannot be watched, with the reason.
    pub unwatchable: Vec<(CredentialId, String)>,
}

/// Groups live credentials by run, so each run costs one request however many credentials
/// its jobs exchanged.
pub fn group(live: &[LiveRun]) -> Grouped {
    let mut runs: Vec<(WatchedRun, Vec<CredentialId>)> = Vec::new();
    let mut index: HashMap<WatchedRun, usize> = HashMap::new();
    let mut unwatchable = Vec::new();
    for credential in live {
        let run = match watched_run(credential) {
            Ok(run) => run,
            Err(why) => {
                unwatchable.push((credential.id, why));
                continue;
            }
        };
        match index.get(&run) {
            Some(&i) => runs[i].1.push(credential.id),
            None => {
                index.insert(run.clone(), runs.len());
                runs.push((run, vec![credential.id]));
            }
        }
    }
    Grouped { runs, unwatchable }
}

fn watched_run(c: &LiveRun) -> Result<WatchedRun, String> {
    let number = |what: &str, text: &str| {
        text.parse::<u64>()
            .map_err(|_| format!("{what} {text:?} is not a number"))
    };
    match c.provider.as_str() {
        "github" => Ok(WatchedRun::Github {
            repository: c.repository.clone(),
            run_id: number("run id", &c.run_id)?,
            attempt: u32::try_from(c.attempt).map_err(|_| format!("attempt {}", c.attempt))?,
        }),
        "gitlab" => {
            let job = c
                .job_id
                .as_deref()
                .ok_or("a GitLab credential without a job id (the token had no job_id claim)")?;
            Ok(WatchedRun::Gitlab {
                project_id: number("project id", &c.repository_id)?,
                project: c.repository.clone(),
                job_id: number("job id", job)?,
            })
        }
        other => Err(format!("unknown provider {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(provider: &str, run_id: &str, attempt: i32, job_id: Option<&str>) -> LiveRun {
        LiveRun {
            id: CredentialId::new_random(),
            issuer: provider.into(),
            provider: provider.into(),
            repository: "acme/payments".into(),
            repository_id: "1001".into(),
            run_id: run_id.into(),
            attempt,
            job_id: job_id.map(Into::into),
        }
    }

    #[test]
    fn credentials_are_grouped_by_run_attempt_and_job() {
        let a = live("github", "10", 1, None);
        let b = live("github", "10", 1, None);
        let retried = live("github", "10", 2, None);
        let job = live("gitlab", "500", 1, Some("5001"));
        let same_job = live("gitlab", "500", 1, Some("5001"));
        let other_job = live("gitlab", "500", 1, Some("5002"));
        let no_job = live("gitlab", "500", 1, None);
        let all = [
            a.clone(),
            b.clone(),
            retried.clone(),
            job.clone(),
            same_job.clone(),
            other_job.clone(),
            no_job.clone(),
        ];
        let Grouped { runs, unwatchable } = group(&all);
        let ids: Vec<Vec<CredentialId>> = runs.iter().map(|(_, ids)| ids.clone()).collect();
        assert_eq!(
            ids,
            vec![
                vec![a.id, b.id],
                vec![retried.id],
                vec![job.id, same_job.id],
                vec![other_job.id]
            ]
        );
        assert_eq!(
            runs[2].0,
            WatchedRun::Gitlab {
                project_id: 1001,
                project: "acme/payments".into(),
                job_id: 5001
            }
        );
        assert_eq!(unwatchable.len(), 1);
        assert_eq!(unwatchable[0].0, no_job.id);
        assert!(unwatchable[0].1.contains("job id"), "{}", unwatchable[0].1);
    }

    #[test]
    fn odd_rows_are_unwatchable_not_fatal() {
        let Grouped { runs, unwatchable } = group(&[
            live("github", "x1", 1, None),
            live("github", "1", -1, None),
            live("bitbucket", "1", 1, None),
        ]);
        assert!(runs.is_empty());
        assert_eq!(unwatchable.len(), 3);
    }
}
