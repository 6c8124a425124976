//! What one answer of a CI API means, for the run (revoke or keep) and for the provider (go on,
//! wait out a rate limit, back off). Pure: the HTTP clients reduce a response to an
//! [`Observation`], [`decide`] returns a typed [`Decision`], and the watcher acts on it.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::HeaderMap;

use crate::base::Backoff;
use crate::identity::Provider;

/// Audit code of a credential revoked because its GitHub run attempt completed.
pub const RUN_COMPLETED: &str = "run_completed";
/// Audit code of a credential revoked because its GitLab job finished.
pub const JOB_COMPLETED: &str = "job_completed";
/// Audit code of a credential whose run or job no longer exists (deleted, or never existed).
pub const RUN_NOT_FOUND: &str = "run_not_found";

/// How long to wait after a rate-limit answer that says nothing about when to come back.
/// GitHub asks for "at least one minute" in that case; GitLab's limits are per minute.
pub const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// GitLab job states after which the job runs no more. `manual`, `scheduled` and the rest are
/// states of jobs that have not run yet, so they cannot hold a credential of their own.
const GITLAB_FINISHED: [&str; 4] = ["success", "failed", "canceled", "skipped"];

/// The run (GitHub run attempt) or job (GitLab) that live credentials belong to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum WatchedRun {
    Github {
        /// `owner/name`.
        repository: String,
        run_id: u64,
        attempt: u32,
    },
    Gitlab {
        project_id: u64,
        /// The project path, for messages only; requests use the id.
        project: String,
        job_id: u64,
    },
}

impl WatchedRun {
    pub fn provider(&self) -> Provider {
        match self {
            WatchedRun::Github { .. } => Provider::Github,
            WatchedRun::Gitlab { .. } => Provider::Gitlab,
        }
    }
}

impl fmt::Display for WatchedRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchedRun::Github {
                repository,
                run_id,
                attempt,
            } => write!(f, "GitHub run {run_id} attempt {attempt} of {repository}"),
            WatchedRun::Gitlab {
                project, job_id, ..
            } => write!(f, "GitLab job {job_id} of {project}"),
        }
    }
}

/// A run's state as its API reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunState {
    /// GitHub: `queued`, `in_progress`, `completed`, ...; GitLab: `running`, `success`, ...
    pub status: String,
    /// GitHub's `conclusion` once completed; GitLab puts the outcome in `status`.
    pub conclusion: Option<String>,
    /// `html_url` / `web_url`, for the audit message.
    pub web_url: Option<String>,
}

/// The rate-limit headers of a response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests left in the window: GitHub `x-ratelimit-remaining`, GitLab `ratelimit-remaining`.
    pub remaining: Option<u64>,
    /// When the window resets: `x-ratelimit-reset` / `ratelimit-reset` (epoch seconds).
    pub reset: Option<DateTime<Utc>>,
    /// `retry-after`, in seconds (GitHub's secondary limits, GitLab's 429).
    pub retry_after: Option<Duration>,
}

impl RateLimit {
    /// Reads the headers `provider` sends; unparseable values count as absent.
    pub fn from_headers(provider: Provider, headers: &HeaderMap) -> RateLimit {
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let (remaining, reset) = match provider {
            Provider::Github => ("x-ratelimit-remaining", "x-ratelimit-reset"),
            Provider::Gitlab => ("ratelimit-remaining", "ratelimit-reset"),
        };
        RateLimit {
            remaining: number(remaining),
            reset: number(reset)
                .and_then(|s| i64::try_from(s).ok())
                .and_then(|s| DateTime::from_timestamp(s, 0)),
            retry_after: number("retry-after").map(Duration::from_secs),
        }
    }

    /// The window is used up: no request succeeds before `reset`.
    fn exhausted_until(&self) -> Option<DateTime<Utc>> {
        (self.remaining == Some(0)).then_some(self.reset).flatten()
    }

    /// When a rate-limited provider may be asked again: `retry-after` wins (it is the
    /// server's explicit instruction), then the window's reset, then a default minute.
    fn resume_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        if let Some(after) = self.retry_after {
            return now + chrono::TimeDelta::from_std(after).unwrap_or(chrono::TimeDelta::MAX);
        }
        match self.reset {
            Some(reset) if reset > now => reset,
            _ => now + chrono::TimeDelta::from_std(DEFAULT_RATE_LIMIT_WAIT).unwrap_or_default(),
        }
    }
}

/// What the API answered about one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A 2xx with the run's state.
    Run(RunState),
    /// 404 for the run. Both APIs also answer 404 for a private repository the token cannot
    /// see, so the client asks about the repository too: `Some(true)` means the repository is
    /// visible and the run really is gone; `Some(false)`, the token cannot see the repository;
    /// `None`, that second answer said neither.
    NotFound { repository_visible: Option<bool> },
    /// Any other HTTP status, with the API's message when it sent one.
    Status { code: u16, message: String },
    /// No usable HTTP answer: connection, TLS, timeout, or a body that is not the run.
    Unreachable(String),
}

/// One answer and the rate-limit headers it came with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub answer: Answer,
    pub limits: RateLimit,
}

/// What to do with the credentials of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The run is over: revoke its credentials with this audit code and message.
    Revoke { code: &'static str, why: String },
    /// Still running.
    Keep,
    /// The token may not see this run: keep the credentials and tell the operator.
    Unauthorized { status: u16, message: String },
    /// Nothing was learned (rate limited, failing, unexpected status): ask again later.
    Unknown { reason: String },
}

/// What to do with the provider's next requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Go on.
    Open,
    /// Rate limited: no request to this provider before `until`.
    Pause { until: DateTime<Utc>, cause: String },
    /// A server or network failure: wait an exponentially growing, jittered delay
    /// ([`provider_backoff`]).
    BackOff { cause: String },
    /// The token itself was refused (401): asking about other runs now would only repeat it.
    StopPass,
}

/// The typed outcome of one observation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    pub gate: Gate,
}

/// Decides what an observation of `run` at `now` means.
pub fn decide(run: &WatchedRun, observation: &Observation, now: DateTime<Utc>) -> Decision {
    let limits = &observation.limits;
    // A success can still be the last request of the window: keep its verdict, stop asking.
    let open_unless_exhausted = || match limits.exhausted_until() {
        Some(until) if until > now => Gate::Pause {
            until,
            cause: "rate limit window used up (x-ratelimit-remaining: 0)".into(),
        },
        _ => Gate::Open,
    };
    match &observation.answer {
        Answer::Run(state) => Decision {
            verdict: run_verdict(run, state),
            gate: open_unless_exhausted(),
        },
        Answer::NotFound {
            repository_visible: Some(true),
        } => Decision {
            verdict: Verdict::Revoke {
                code: RUN_NOT_FOUND,
                why: format!("{run} no longer exists (the API answered 404)"),
            },
            gate: open_unless_exhausted(),
        },
        Answer::NotFound {
            repository_visible: Some(false),
        } => Decision {
            verdict: Verdict::Unauthorized {
                status: 404,
                message: "the token cannot see the repository (private repositories the token \
                          has no access to answer 404)"
                    .into(),
            },
            gate: open_unless_exhausted(),
        },
        Answer::NotFound {
            repository_visible: None,
        } => Decision {
            verdict: Verdict::Unknown {
                reason: "404 for the run, and the repository could not be checked".into(),
            },
            gate: open_unless_exhausted(),
        },
        Answer::Status { code, message } => status_decision(run, *code, message, limits, now),
        Answer::Unreachable(error) => Decision {
            verdict: Verdict::Unknown {
                reason: error.clone(),
            },
            gate: Gate::BackOff {
                cause: error.clone(),
            },
        },
    }
}

fn run_verdict(run: &WatchedRun, state: &RunState) -> Verdict {
    let link = state
        .web_url
        .as_deref()
        .map(|u| format!(" ({u})"))
        .unwrap_or_default();
    match run {
        WatchedRun::Github { .. } if state.status == "completed" => Verdict::Revoke {
            code: RUN_COMPLETED,
            why: format!(
                "{run} completed with conclusion {}{link}",
                state.conclusion.as_deref().unwrap_or("unknown")
            ),
        },
        WatchedRun::Gitlab { .. } if GITLAB_FINISHED.contains(&state.status.as_str()) => {
            Verdict::Revoke {
                code: JOB_COMPLETED,
                why: format!("{run} finished with status {}{link}", state.status),
            }
        }
        _ => Verdict::Keep,
    }
}

fn status_decision(
    run: &WatchedRun,
    code: u16,
    message: &str,
    limits: &RateLimit,
    now: DateTime<Utc>,
) -> Decision {
    let unknown = |reason: String| Verdict::Unknown { reason };
    let pause = |cause: String| Decision {
        verdict: unknown(cause.clone()),
        gate: Gate::Pause {
            until: limits.resume_at(now),
            cause,
        },
    };
    // GitHub signals its limits with 403 or 429: primary ones with x-ratelimit-remaining: 0,
    // secondary ones with retry-after or, failing both headers, only in the message.
    let github_limited = matches!(run, WatchedRun::Github { .. })
        && code == 403
        && (limits.remaining == Some(0)
            || limits.retry_after.is_some()
            || message.to_ascii_lowercase().contains("rate limit"));
    match code {
        429 => pause(format!("rate limited (429): {message}")),
        403 if github_limited => pause(format!("rate limited (403): {message}")),
        401 => Decision {
            verdict: Verdict::Unauthorized {
                status: code,
                message: message.to_owned(),
            },
            gate: Gate::StopPass,
        },
        403 => Decision {
            verdict: Verdict::Unauthorized {
                status: code,
                message: message.to_owned(),
            },
            gate: Gate::Open,
        },
        500..=599 => Decision {
            verdict: unknown(format!("server error {code}: {message}")),
            gate: Gate::BackOff {
                cause: format!("server error {code}"),
            },
        },
        _ => Decision {
            verdict: unknown(format!("unexpected status {code}: {message}")),
            gate: Gate::Open,
        },
    }
}

/// The backoff of one provider after server or network failures: from 5 s, doubling, capped
/// at 10 minutes, jittered so that replicas that failed together do not come back together.
pub fn provider_backoff() -> Backoff {
    Backoff::new(Duration::from_secs(5), Duration::from_secs(10 * 60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn github() -> WatchedRun {
        WatchedRun::Github {
            repository: "acme/payments".into(),
            run_id: 42,
            attempt: 2,
        }
    }

    fn gitlab() -> WatchedRun {
        WatchedRun::Gitlab {
            project_id: 7,
            project: "acme/ledger".into(),
            job_id: 71,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn run(status: &str, conclusion: Option<&str>) -> Observation {
        Observation {
            answer: Answer::Run(RunState {
                status: status.into(),
                conclusion: conclusion.map(Into::into),
                web_url: Some("https://ci.example/run".into()),
            }),
            limits: RateLimit::default(),
        }
    }

    fn status(code: u16, message: &str, limits: RateLimit) -> Observation {
        Observation {
            answer: Answer::Status {
                code,
                message: message.into(),
            },
            limits,
        }
    }

    fn revoke_code(d: &Decision) -> Option<&'static str> {
        match &d.verdict {
            Verdict::Revoke { code, .. } => Some(code),
            _ => None,
        }
    }

    #[test]
    fn a_completed_github_attempt_is_revoked_naming_run_and_conclusion() {
        let d = decide(&github(), &run("completed", Some("cancelled")), now());
        assert_eq!(d.gate, Gate::Open);
        let Verdict::Revoke { code, why } = d.verdict else {
            panic!("{d:?}")
        };
        assert_eq!(code, RUN_COMPLETED);
        assert!(why.contains("run 42 attempt 2 of acme/payments"), "{why}");
        assert!(why.contains("cancelled"), "{why}");
        assert!(why.contains("https://ci.example/run"), "{why}");
    }

    #[test]
    fn github_runs_that_are_not_completed_are_kept() {
        for s in [
            "queued",
            "in_progress",
            "waiting",
            "requested",
            "pending",
            "action_required",
        ] {
            let d = decide(&github(), &run(s, None), now());
            assert_eq!(d.verdict, Verdict::Keep, "{s}");
            assert_eq!(d.gate, Gate::Open, "{s}");
        }
    }

    #[test]
    fn finished_gitlab_jobs_are_revoked_and_others_kept() {
        for s in GITLAB_FINISHED {
            let d = decide(&gitlab(), &run(s, None), now());
            assert_eq!(revoke_code(&d), Some(JOB_COMPLETED), "{s}");
        }
        for s in [
            "created",
            "pending",
            "running",
            "manual",
            "scheduled",
            "preparing",
            "waiting_for_resource",
            "canceling",
        ] {
            assert_eq!(
                decide(&gitlab(), &run(s, None), now()).verdict,
                Verdict::Keep,
                "{s}"
            );
        }
        // GitLab's word for a finished GitHub run is not GitHub's.
        assert_eq!(
            decide(&github(), &run("success", None), now()).verdict,
            Verdict::Keep
        );
    }

    #[test]
    fn a_404_revokes_only_when_the_repository_is_visible() {
        let not_found = |visible| Observation {
            answer: Answer::NotFound {
                repository_visible: visible,
            },
            limits: RateLimit::default(),
        };
        let d = decide(&github(), &not_found(Some(true)), now());
        assert_eq!(revoke_code(&d), Some(RUN_NOT_FOUND));
        let d = decide(&gitlab(), &not_found(Some(true)), now());
        assert_eq!(revoke_code(&d), Some(RUN_NOT_FOUND));
        assert!(matches!(
            decide(&github(), &not_found(Some(false)), now()).verdict,
            Verdict::Unauthorized { status: 404, .. }
        ));
        assert!(matches!(
            decide(&github(), &not_found(None), now()).verdict,
            Verdict::Unknown { .. }
        ));
    }

    #[test]
    fn a_401_keeps_and_stops_the_pass_and_a_plain_403_keeps() {
        let d = decide(
            &github(),
            &status(401, "Bad credentials", RateLimit::default()),
            now(),
        );
        assert!(matches!(
            d.verdict,
            Verdict::Unauthorized { status: 401, .. }
        ));
        assert_eq!(d.gate, Gate::StopPass);
        let limits = RateLimit {
            remaining: Some(4999),
            ..RateLimit::default()
        };
        let d = decide(
            &github(),
            &status(403, "Resource not accessible by integration", limits),
            now(),
        );
        assert!(matches!(
            d.verdict,
            Verdict::Unauthorized { status: 403, .. }
        ));
        assert_eq!(d.gate, Gate::Open);
        let d = decide(
            &gitlab(),
            &status(403, "403 Forbidden", RateLimit::default()),
            now(),
        );
        assert!(matches!(d.verdict, Verdict::Unauthorized { .. }));
    }

    #[test]
    fn a_github_403_with_the_window_used_up_pauses_until_the_reset() {
        let reset = now() + chrono::TimeDelta::seconds(900);
        let limits = RateLimit {
            remaining: Some(0),
            reset: Some(reset),
            retry_after: None,
        };
        let d = decide(
            &github(),
            &status(403, "API rate limit exceeded", limits),
            now(),
        );
        assert!(matches!(d.verdict, Verdict::Unknown { .. }));
        assert!(matches!(d.gate, Gate::Pause { until, .. } if until == reset));
    }

    #[test]
    fn retry_after_wins_and_a_bare_limit_waits_a_minute() {
        let limits = RateLimit {
            remaining: Some(0),
            reset: Some(now() + chrono::TimeDelta::seconds(900)),
            retry_after: Some(Duration::from_secs(30)),
        };
        for run in [github(), gitlab()] {
            let d = decide(&run, &status(429, "slow down", limits.clone()), now());
            assert!(
                matches!(d.gate, Gate::Pause { until, .. } if until == now() + chrono::TimeDelta::seconds(30)),
                "{d:?}"
            );
        }
        // GitHub's secondary limit with only its message.
        let d = decide(
            &github(),
            &status(
                403,
                "You have exceeded a secondary rate limit",
                RateLimit::default(),
            ),
            now(),
        );
        assert!(
            matches!(d.gate, Gate::Pause { until, .. } if until == now() + chrono::TimeDelta::seconds(60))
        );
        // GitLab's 429 with only ratelimit-reset.
        let reset = now() + chrono::TimeDelta::seconds(45);
        let limits = RateLimit {
            remaining: Some(0),
            reset: Some(reset),
            retry_after: None,
        };
        let d = decide(&gitlab(), &status(429, "Retry later", limits), now());
        assert!(matches!(d.gate, Gate::Pause { until, .. } if until == reset));
    }

    #[test]
    fn a_success_that_used_the_last_request_still_decides_and_pauses() {
        let reset = now() + chrono::TimeDelta::seconds(120);
        let mut observation = run("completed", Some("success"));
        observation.limits = RateLimit {
            remaining: Some(0),
            reset: Some(reset),
            retry_after: None,
        };
        let d = decide(&github(), &observation, now());
        assert_eq!(revoke_code(&d), Some(RUN_COMPLETED));
        assert!(matches!(d.gate, Gate::Pause { until, .. } if until == reset));
        // A reset already past is no reason to wait.
        observation.limits.reset = Some(now() - chrono::TimeDelta::seconds(1));
        assert_eq!(decide(&github(), &observation, now()).gate, Gate::Open);
    }

    #[test]
    fn server_and_network_failures_back_off_and_keep() {
        for observation in [
            status(500, "", RateLimit::default()),
            status(502, "Bad Gateway", RateLimit::default()),
            status(503, "", RateLimit::default()),
            Observation {
                answer: Answer::Unreachable("connection refused".into()),
                limits: RateLimit::default(),
            },
        ] {
            let d = decide(&github(), &observation, now());
            assert!(matches!(d.verdict, Verdict::Unknown { .. }), "{d:?}");
            assert!(matches!(d.gate, Gate::BackOff { .. }), "{d:?}");
        }
        let d = decide(
            &gitlab(),
            &status(418, "teapot", RateLimit::default()),
            now(),
        );
        assert!(matches!(d.verdict, Verdict::Unknown { .. }));
        assert_eq!(d.gate, Gate::Open);
    }

    #[test]
    fn rate_limit_headers_are_read_per_provider() {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("1700000900"));
        h.insert("retry-after", HeaderValue::from_static("30"));
        h.insert("ratelimit-remaining", HeaderValue::from_static("7"));
        let gh = RateLimit::from_headers(Provider::Github, &h);
        assert_eq!(gh.remaining, Some(0));
        assert_eq!(gh.reset, DateTime::from_timestamp(1_700_000_900, 0));
        assert_eq!(gh.retry_after, Some(Duration::from_secs(30)));
        let gl = RateLimit::from_headers(Provider::Gitlab, &h);
        assert_eq!(gl.remaining, Some(7));
        assert_eq!(gl.reset, None);
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("lots"));
        assert_eq!(
            RateLimit::from_headers(Provider::Github, &h).remaining,
            None
        );
    }
}
