//! The run watcher against local stand-ins of the two endpoints it asks (plus the repository /
//! project look-up it makes after a 404), with real credentials in a real state database.
//! Driven in-process: each test runs passes itself with `Watcher::pass`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::support::*;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hoop::exchange::{Broker, Caller, ExchangeRequest, IssuedCredential};
use hoop::identity::issuer::DemoIssuer;
use hoop::watcher::{PassReport, Watcher};
use serde_json::{Value, json};

const GITHUB_TOKEN: &str = "ghs_watcher-test-token";
const GITLAB_TOKEN: &str = "glpat-watcher-test-token";

// ---------------------------------------------------------------------------------------------
// The API stand-in

/// A scripted answer.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Value,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply {
            status: 200,
            headers: Vec::new(),
            body,
        }
    }

    fn status(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body,
        }
    }

    fn header(mut self, name: &'static str, value: impl ToString) -> Reply {
        self.headers.push((name, value.to_string()));
        self
    }
}

/// One request the stand-in received.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    at: SystemTime,
    /// `Authorization` (GitHub) or `PRIVATE-TOKEN` (GitLab).
    credential: Option<String>,
}

#[derive(Default)]
struct Script {
    replies: HashMap<String, Reply>,
    seen: Vec<Seen>,
}

/// Stand-in of `api.github.com` and a GitLab instance on one port: answers what the test set
/// for a path (404 otherwise), and records every request.
#[derive(Clone, Default)]
struct StandIn(Arc<Mutex<Script>>);

impl StandIn {
    async fn start() -> (StandIn, String) {
        let stand_in = StandIn::default();
        let app = axum::Router::new()
            .route(
                "/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt}",
                get(github_attempt),
            )
            .route("/repos/{owner}/{repo}", get(github_repository))
            .route("/api/v4/projects/{id}/jobs/{job_id}", get(gitlab_job))
            .route("/api/v4/projects/{id}", get(gitlab_project))
            .with_state(stand_in.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (stand_in, url)
    }

    fn set(&self, path: &str, reply: Reply) {
        self.0
            .lock()
            .unwrap()
            .replies
            .insert(path.to_owned(), reply);
    }

    fn requests(&self, path: &str) -> Vec<Seen> {
        self.0
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }

    fn all_requests(&self) -> usize {
        self.0.lock().unwrap().seen.len()
    }

    fn answer(&self, path: String, headers: &HeaderMap, credential_header: &str) -> Response {
        let mut script = self.0.lock().unwrap();
        script.seen.push(Seen {
            path: path.clone(),
            at: SystemTime::now(),
            credential: headers
                .get(credential_header)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        });
        let reply = script.replies.get(&path).cloned().unwrap_or_else(|| {
            Reply::status(
                404,
                json!({"message": "Not Found", "documentation_url": "x"}),
            )
        });
        let mut response = (
            StatusCode::from_u16(reply.status).unwrap(),
            axum::Json(reply.body),
        )
            .into_response();
        for (name, value) in reply.headers {
            response.headers_mut().insert(name, value.parse().unwrap());
        }
        response
    }
}

async fn github_attempt(
    State(s): State<StandIn>,
    Path((owner, repo, run_id, attempt)): Path<(String, String, u64, u32)>,
    headers: HeaderMap,
) -> Response {
    s.answer(
        attempt_path(&format!("{owner}/{repo}"), run_id, attempt),
        &headers,
        "authorization",
    )
}

async fn github_repository(
    State(s): State<StandIn>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    s.answer(format!("/repos/{owner}/{repo}"), &headers, "authorization")
}

async fn gitlab_job(
    State(s): State<StandIn>,
    Path((id, job_id)): Path<(u64, u64)>,
    headers: HeaderMap,
) -> Response {
    s.answer(job_path(id, job_id), &headers, "private-token")
}

async fn gitlab_project(
    State(s): State<StandIn>,
    Path(id): Path<u64>,
    headers: HeaderMap,
) -> Response {
    s.answer(format!("/api/v4/projects/{id}"), &headers, "private-token")
}

fn attempt_path(repository: &str, run_id: u64, attempt: u32) -> String {
    format!("/repos/{repository}/actions/runs/{run_id}/attempts/{attempt}")
}

fn job_path(project_id: u64, job_id: u64) -> String {
    format!("/api/v4/projects/{project_id}/jobs/{job_id}")
}

/// A workflow run attempt as GitHub sends it (the fields octocrab's `Run` model requires, and
/// more).
fn github_run(run_id: u64, attempt: u32, status: &str, conclusion: Option<&str>) -> Value {
    let api = "https://api.github.com/repos/acme/payments";
    json!({
        "id": run_id,
        "name": "deploy",
        "node_id": "WFR_kwLOAAAB",
        "head_branch": "main",
        "head_sha": "0123456789abcdef0123456789abcdef01234567",
        "path": ".github/workflows/deploy.yml",
        "display_title": "deploy",
        "run_number": 12,
        "run_attempt": attempt,
        "event": "push",
        "status": status,
        "conclusion": conclusion,
        "workflow_id": 161335,
        "check_suite_id": 42,
        "url": format!("{api}/actions/runs/{run_id}"),
        "html_url": format!("https://github.com/{REPOSITORY}/actions/runs/{run_id}/attempts/{attempt}"),
        "jobs_url": format!("{api}/actions/runs/{run_id}/jobs"),
        "logs_url": format!("{api}/actions/runs/{run_id}/logs"),
        "check_suite_url": format!("{api}/check-suites/42"),
        "artifacts_url": format!("{api}/actions/runs/{run_id}/artifacts"),
        "cancel_url": format!("{api}/actions/runs/{run_id}/cancel"),
        "rerun_url": format!("{api}/actions/runs/{run_id}/rerun"),
        "workflow_url": format!("{api}/actions/workflows/161335"),
        "pull_requests": [],
        "created_at": "2026-01-01T10:00:00Z",
        "updated_at": "2026-01-01T10:05:00Z",
        "run_started_at": "2026-01-01T10:00:00Z",
        "head_commit": {
            "id": "0123456789abcdef0123456789abcdef01234567",
            "tree_id": "89abcdef0123456789abcdef0123456789abcdef",
            "message": "ship it",
            "timestamp": "2026-01-01T09:59:00Z",
            "author": {"name": "Octo Cat", "email": "octocat@example.com"},
            "committer": {"name": "Octo Cat", "email": "octocat@example.com"}
        },
        "repository": {"id": REPOSITORY_ID, "name": "payments", "full_name": REPOSITORY},
        "head_repository": {"id": REPOSITORY_ID, "name": "payments", "full_name": REPOSITORY}
    })
}

/// A job as GitLab sends it.
fn gitlab_job_body(job_id: u64, pipeline_id: u64, status: &str) -> Value {
    json!({
        "id": job_id,
        "name": "migrate",
        "stage": "deploy",
        "status": status,
        "ref": "main",
        "tag": false,
        "coverage": null,
        "allow_failure": false,
        "created_at": "2026-01-01T10:00:00.000Z",
        "started_at": "2026-01-01T10:00:05.000Z",
        "finished_at": null,
        "duration": 12.5,
        "queued_duration": 0.4,
        "user": {"id": 1, "username": "demo-user", "name": "Demo User"},
        "commit": {"id": "0123456789abcdef0123456789abcdef01234567", "short_id": "01234567", "title": "ship it"},
        "pipeline": {"id": pipeline_id, "project_id": GITLAB_PROJECT_ID, "ref": "main", "sha": "0123456789abcdef0123456789abcdef01234567", "status": "running"},
        "web_url": format!("https://gitlab.example.com/{GITLAB_PROJECT}/-/jobs/{job_id}"),
        "project": {"ci_job_token_scope_enabled": false},
        "artifacts": [],
        "runner": null,
        "tag_list": []
    })
}

// ---------------------------------------------------------------------------------------------
// hoop in-process

struct InProcess {
    broker: Arc<Broker>,
    watcher: Watcher,
    api: StandIn,
    github: DemoIssuer,
    gitlab: DemoIssuer,
    db: TestDb,
    _dir: ScratchDir,
}

impl InProcess {
    async fn start() -> InProcess {
        let (api, api_url) = StandIn::start().await;
        let watcher_section = |dir: &ScratchDir| {
            let gitlab_token = dir.write("gitlab_token", &format!("{GITLAB_TOKEN}\n"));
            format!(
                r#"
[watcher]
interval = "1s"
github_token = {{ env = "HOOP_E2E_GITHUB_TOKEN" }}
github_api_url = "{api_url}"
gitlab_token = {{ file = {:?} }}
gitlab_url = "{api_url}"
"#,
                gitlab_token.display().to_string()
            )
        };
        let hoop = InProcessHoop::start(
            "exchange",
            watcher_section,
            &[("HOOP_E2E_GITHUB_TOKEN", GITHUB_TOKEN)],
        )
        .await;
        let watcher_config = hoop.config.watcher.clone().unwrap();
        let watcher = Watcher::new(
            hoop.broker.clone(),
            &watcher_config,
            &hoop.config.watched_issuers(),
            &hoop.env,
        )
        .unwrap();
        InProcess {
            broker: hoop.broker,
            watcher,
            api,
            github: hoop.github,
            gitlab: hoop.gitlab,
            db: hoop.db,
            _dir: hoop.dir,
        }
    }

    async fn exchange(&self, token: String) -> IssuedCredential {
        self.broker
            .exchange(
                &token,
                &ExchangeRequest::new(hoop::base::ConnectionName::new(CONNECTION).unwrap()),
                Caller::default(),
            )
            .await
            .unwrap()
    }

    /// A credential of attempt 1 of GitHub run `run_id` of [`REPOSITORY`].
    async fn github_credential(&self, run_id: u64) -> IssuedCredential {
        let claims = self
            .github
            .github_claims(AUDIENCE, REPOSITORY, REPOSITORY_ID, run_id);
        self.exchange(self.github.mint(&claims)).await
    }

    /// A credential of GitLab pipeline `pipeline_id` of [`GITLAB_PROJECT`]; its job id is
    /// `pipeline_id * 10 + 1` (the demo issuer's claims).
    async fn gitlab_credential(&self, pipeline_id: u64) -> IssuedCredential {
        let claims =
            self.gitlab
                .gitlab_claims(AUDIENCE, GITLAB_PROJECT, GITLAB_PROJECT_ID, pipeline_id);
        self.exchange(self.gitlab.mint(&claims)).await
    }

    async fn pass(&self) -> PassReport {
        self.watcher.pass().await.unwrap()
    }

    async fn state(&self, credential: &IssuedCredential) -> String {
        self.db.credential_state(&credential.id.to_string()).await
    }

    /// The messages of the audit events with `code` for `credential`.
    async fn audit_messages(&self, code: &str, credential: &IssuedCredential) -> Vec<String> {
        self.db
            .audit_events(code)
            .await
            .iter()
            .filter(|r| {
                r.get::<_, Option<uuid::Uuid>>("credential_id") == Some(credential.id.as_uuid())
            })
            .map(|r| r.get("message"))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_run_is_watched_until_its_attempt_completes() {
    let hoop = InProcess::start().await;
    let first = hoop.github_credential(9101).await;
    let second = hoop.github_credential(9101).await;
    let other = hoop.github_credential(9102).await;
    let path = attempt_path(REPOSITORY, 9101, 1);
    let other_path = attempt_path(REPOSITORY, 9102, 1);
    hoop.api
        .set(&path, Reply::ok(github_run(9101, 1, "in_progress", None)));
    hoop.api
        .set(&other_path, Reply::ok(github_run(9102, 1, "queued", None)));

    let report = hoop.pass().await;
    assert_eq!((report.checked, report.revoked), (2, 0), "{report:?}");
    for c in [&first, &second, &other] {
        assert_eq!(hoop.state(c).await, "active");
    }
    // One request per run, however many credentials it holds; the token went along.
    let seen = hoop.api.requests(&path);
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].credential.as_deref(),
        Some(format!("Bearer {GITHUB_TOKEN}").as_str())
    );

    hoop.api.set(
        &path,
        Reply::ok(github_run(9101, 1, "completed", Some("cancelled"))),
    );
    let report = hoop.pass().await;
    assert_eq!((report.checked, report.revoked), (2, 2), "{report:?}");
    for c in [&first, &second] {
        assert_eq!(hoop.state(c).await, "revoked");
        assert!(
            !hoop.db.role_exists(c.username.as_str()).await,
            "the run role is dropped"
        );
        let messages = hoop.audit_messages("run_completed", c).await;
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(
            messages[0].contains("run 9101 attempt 1 of acme/payments")
                && messages[0].contains("cancelled"),
            "{messages:?}"
        );
    }
    assert_eq!(hoop.state(&other).await, "active");

    // Revoked credentials are not live: the next pass asks only about the other run.
    let report = hoop.pass().await;
    assert_eq!((report.checked, report.revoked), (1, 0), "{report:?}");
    assert_eq!(hoop.api.requests(&path).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitlab_job_is_watched_until_it_finishes() {
    let hoop = InProcess::start().await;
    let credential = hoop.gitlab_credential(700).await;
    let path = job_path(GITLAB_PROJECT_ID, 7001);
    hoop.api
        .set(&path, Reply::ok(gitlab_job_body(7001, 700, "running")));

    let report = hoop.pass().await;
    assert_eq!((report.checked, report.revoked), (1, 0), "{report:?}");
    assert_eq!(hoop.state(&credential).await, "active");
    let seen = hoop.api.requests(&path);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].credential.as_deref(), Some(GITLAB_TOKEN));

    hoop.api
        .set(&path, Reply::ok(gitlab_job_body(7001, 700, "canceled")));
    let report = hoop.pass().await;
    assert_eq!(report.revoked, 1, "{report:?}");
    assert_eq!(hoop.state(&credential).await, "revoked");
    let messages = hoop.audit_messages("job_completed", &credential).await;
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].contains("GitLab job 7001 of acme/ledger") && messages[0].contains("canceled"),
        "{messages:?}"
    );
}

/// Runs watcher passes until one revokes (bounded by [`WAIT`]); every pass before it must
/// have checked nothing (deferred by the rate limit). Returns how many deferred.
async fn passes_until_revoked(hoop: &InProcess) -> usize {
    let deadline = std::time::Instant::now() + WAIT;
    let mut deferred = 0;
    loop {
        let report = hoop.pass().await;
        if report.revoked == 1 {
            return deferred;
        }
        assert_eq!(report.checked, 0, "{report:?}");
        deferred += report.deferred;
        assert!(
            std::time::Instant::now() < deadline,
            "no pass revoked within {WAIT:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_is_not_asked_again_before_its_rate_limit_resets() {
    let hoop = InProcess::start().await;
    let credential = hoop.github_credential(9201).await;
    let path = attempt_path(REPOSITORY, 9201, 1);
    let reset = now() + 3;
    hoop.api.set(
        &path,
        Reply::status(
            403,
            json!({"message": "API rate limit exceeded for installation ID 1.", "documentation_url": "x"}),
        )
        .header("x-ratelimit-limit", 5000)
        .header("x-ratelimit-remaining", 0)
        .header("x-ratelimit-used", 5000)
        .header("x-ratelimit-reset", reset),
    );

    let report = hoop.pass().await;
    assert_eq!((report.checked, report.revoked), (1, 0), "{report:?}");
    hoop.api.set(
        &path,
        Reply::ok(github_run(9201, 1, "completed", Some("success"))),
    );
    // Passes until one asks GitHub again and revokes: until the reset, passes defer and ask
    // nothing; the second request comes at the reset or after it, whenever the passes run.
    let reset_at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(reset as u64);
    let deferred = passes_until_revoked(&hoop).await;
    let seen = hoop.api.requests(&path);
    assert_eq!(seen.len(), 2, "{deferred} passes deferred");
    assert!(
        seen[1].at >= reset_at,
        "the second request came before the reset"
    );
    assert_eq!(hoop.state(&credential).await, "revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_is_not_asked_again_before_retry_after() {
    let hoop = InProcess::start().await;
    let credential = hoop.gitlab_credential(720).await;
    let path = job_path(GITLAB_PROJECT_ID, 7201);
    hoop.api.set(
        &path,
        Reply::status(429, json!({"message": "Retry later"}))
            .header("retry-after", 2)
            .header("ratelimit-remaining", 0)
            .header("ratelimit-reset", now() + 2),
    );
    let started = SystemTime::now();
    let report = hoop.pass().await;
    assert_eq!(report.checked, 1, "{report:?}");
    hoop.api
        .set(&path, Reply::ok(gitlab_job_body(7201, 720, "success")));
    // Passes until one asks GitLab again and revokes: none asks before Retry-After (counted
    // from before the first pass began), whenever the passes run.
    let deferred = passes_until_revoked(&hoop).await;
    let seen = hoop.api.requests(&path);
    assert_eq!(seen.len(), 2, "{deferred} passes deferred");
    assert!(
        seen[1].at.duration_since(started).unwrap() >= std::time::Duration::from_secs(2),
        "the second request came before Retry-After"
    );
    assert_eq!(hoop.state(&credential).await, "revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_no_longer_exists_is_revoked_but_an_invisible_repository_is_not() {
    let hoop = InProcess::start().await;
    let credential = hoop.github_credential(9301).await;
    let path = attempt_path(REPOSITORY, 9301, 1);
    // Nothing is scripted: the run and the repository both answer 404, as GitHub does for a
    // private repository the token has no access to.
    let report = hoop.pass().await;
    assert_eq!((report.checked, report.revoked), (1, 0), "{report:?}");
    assert_eq!(hoop.state(&credential).await, "active");
    assert_eq!(hoop.api.requests(&format!("/repos/{REPOSITORY}")).len(), 1);

    hoop.api.set(
        &format!("/repos/{REPOSITORY}"),
        Reply::ok(json!({"id": REPOSITORY_ID, "name": "payments", "full_name": REPOSITORY, "private": true})),
    );
    let report = hoop.pass().await;
    assert_eq!(report.revoked, 1, "{report:?}");
    assert_eq!(hoop.state(&credential).await, "revoked");
    assert_eq!(hoop.api.requests(&path).len(), 2);
    let messages = hoop.audit_messages("run_not_found", &credential).await;
    assert_eq!(messages.len(), 1, "{messages:?}");

    // The same for a GitLab job whose project is visible.
    let job = hoop.gitlab_credential(730).await;
    hoop.api.set(
        &format!("/api/v4/projects/{GITLAB_PROJECT_ID}"),
        Reply::ok(json!({"id": GITLAB_PROJECT_ID, "path_with_namespace": GITLAB_PROJECT})),
    );
    hoop.api.set(
        &job_path(GITLAB_PROJECT_ID, 7301),
        Reply::status(404, json!({"message": "404 Not found"})),
    );
    let report = hoop.pass().await;
    assert_eq!(report.revoked, 1, "{report:?}");
    assert_eq!(hoop.audit_messages("run_not_found", &job).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_revokes_nothing_and_stops_asking_for_the_pass() {
    let hoop = InProcess::start().await;
    let a = hoop.github_credential(9401).await;
    let b = hoop.github_credential(9402).await;
    for run_id in [9401, 9402] {
        hoop.api.set(
            &attempt_path(REPOSITORY, run_id, 1),
            Reply::status(
                401,
                json!({"message": "Bad credentials", "documentation_url": "x"}),
            ),
        );
    }
    let report = hoop.pass().await;
    assert_eq!(
        (report.checked, report.deferred, report.revoked),
        (1, 1, 0),
        "{report:?}"
    );
    assert_eq!(hoop.api.all_requests(), 1);
    // Next pass asks again (a token can be fixed), and still revokes nothing.
    let report = hoop.pass().await;
    assert_eq!(report.checked, 1, "{report:?}");
    for c in [&a, &b] {
        assert_eq!(hoop.state(c).await, "active");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_api_is_backed_off() {
    let hoop = InProcess::start().await;
    let credential = hoop.github_credential(9501).await;
    let path = attempt_path(REPOSITORY, 9501, 1);
    hoop.api.set(
        &path,
        Reply::status(502, json!({"message": "Server Error"})),
    );
    let started = SystemTime::now();
    let report = hoop.pass().await;
    assert_eq!(report.checked, 1, "{report:?}");
    // The first backoff is 2.5 to 5 seconds: passes defer until it ran out, then one asks
    // again (bounded by WAIT).
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let report = hoop.pass().await;
        if report.checked == 1 {
            break;
        }
        assert_eq!(report.deferred, 1, "{report:?}");
        assert!(std::time::Instant::now() < deadline, "never asked again");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let seen = hoop.api.requests(&path);
    assert_eq!(seen.len(), 2);
    assert!(
        seen[1].at.duration_since(started).unwrap() >= std::time::Duration::from_millis(2500),
        "asked again before the backoff ran out"
    );
    assert_eq!(hoop.state(&credential).await, "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_at_a_time_runs_a_pass() {
    let hoop = InProcess::start().await;
    let credential = hoop.github_credential(9601).await;
    hoop.api.set(
        &attempt_path(REPOSITORY, 9601, 1),
        Reply::ok(github_run(9601, 1, "completed", Some("failure"))),
    );
    // Another replica's pass, as far as the lock can tell.
    let other = hoop.db.client().await;
    other
        .execute(
            "SELECT pg_advisory_lock($1)",
            &[&hoop::watcher::PASS_LOCK_KEY],
        )
        .await
        .unwrap();
    let report = hoop.pass().await;
    assert!(report.skipped, "{report:?}");
    assert_eq!(hoop.api.all_requests(), 0);
    drop(other);

    wait_until("the other replica's lock to go", || async {
        !hoop.pass().await.skipped
    })
    .await;
    assert_eq!(hoop.state(&credential).await, "revoked");
}
