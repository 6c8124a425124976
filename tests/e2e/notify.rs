//! Approval notifications against local stand-ins of the exact endpoints they use: a webhook
//! receiver that checks the signature, GitHub's issue and commit comment routes, GitLab's merge
//! request note and commit comment routes. Driven in-process over real HTTP on 127.0.0.1:0.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Once, OnceLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use hoop::approvals::notify::{Channel, Notice, Notifier, NotifyConfig, NotifyError};
use hoop::identity::{Provider, RunId, RunIdentity};
use serde_json::{Value, json};
use sha2::Sha256;

const WEBHOOK_SECRET: &str = "whsec-notify-test-0123456789";
const GITHUB_TOKEN: &str = "ghs_notify-test-token";
const GITLAB_TOKEN: &str = "glpat-notify-test-token";
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
/// A statement that tries to close a three-backtick fence.
const STATEMENT: &str = "UPDATE payments SET memo = '```' WHERE id = 7";

// ---------------------------------------------------------------------------------------------
// When a delivery task is done

/// Delivery tasks that ended, as hoop logs them (target `hoop::approvals`): the approval id and
/// channel of each "delivered" and "giving up" line. A task logs one of them and returns, so
/// once its line is here it sends nothing more: that is the event the tests wait on.
fn ended_deliveries() -> &'static Mutex<Vec<(String, String)>> {
    static ENDED: OnceLock<Mutex<Vec<(String, String)>>> = OnceLock::new();
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        use tracing_subscriber::layer::SubscriberExt;
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(DeliveryEnds))
            .expect("nothing else in the test binary sets a global subscriber");
    });
    ENDED.get_or_init(Mutex::default)
}

struct DeliveryEnds;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for DeliveryEnds {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "hoop::approvals" {
            return;
        }
        let mut fields = LogFields::default();
        event.record(&mut fields);
        if fields
            .message
            .starts_with("approval notification delivered")
            || fields.message.contains("giving up")
        {
            ended_deliveries()
                .lock()
                .unwrap()
                .push((fields.approval_id, fields.channel));
        }
    }
}

#[derive(Default)]
struct LogFields {
    message: String,
    approval_id: String,
    channel: String,
}

impl tracing::field::Visit for LogFields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.record(field.name(), value.to_owned());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.record(field.name(), format!("{value:?}"));
    }
}

impl LogFields {
    fn record(&mut self, name: &str, value: String) {
        match name {
            "message" => self.message = value,
            "approval_id" => self.approval_id = value,
            "channel" => self.channel = value,
            _ => {}
        }
    }
}

/// Sends `notice` with [`Notifier::notify`] and waits (bounded) until `channels` delivery
/// tasks of it have ended: everything they sent has arrived.
async fn notify_and_wait(notifier: &Notifier, notice: Notice, channels: usize) {
    let id = notice.approval_id.to_string();
    ended_deliveries();
    notifier.notify(notice);
    crate::support::wait_until(&format!("{channels} deliveries of {id} to end"), || async {
        let ended = ended_deliveries().lock().unwrap();
        ended.iter().filter(|(approval, _)| *approval == id).count() >= channels
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// The stand-in

/// One request the stand-in received.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// A form-encoded body (the gitlab crate's endpoints send forms).
    fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }
}

#[derive(Default)]
struct Script {
    /// Statuses to answer first, per path; then 201.
    failures: HashMap<String, VecDeque<u16>>,
    seen: Vec<Seen>,
}

/// Stand-in of a webhook receiver, `api.github.com` and a GitLab instance on one port.
#[derive(Clone, Default)]
struct StandIn(Arc<Mutex<Script>>);

impl StandIn {
    async fn start() -> (StandIn, String) {
        let stand_in = StandIn::default();
        let app = axum::Router::new()
            .route("/hook", post(answer))
            .route(
                "/repos/{owner}/{repo}/issues/{number}/comments",
                post(answer),
            )
            .route("/repos/{owner}/{repo}/commits/{sha}/comments", post(answer))
            .route(
                "/api/v4/projects/{id}/merge_requests/{iid}/notes",
                post(answer),
            )
            .route(
                "/api/v4/projects/{id}/repository/commits/{sha}/comments",
                post(answer),
            )
            .with_state(stand_in.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (stand_in, url)
    }

    /// Answers `statuses` in turn on `path`, before the default 201.
    fn fail(&self, path: &str, statuses: &[u16]) {
        self.0
            .lock()
            .unwrap()
            .failures
            .insert(path.to_owned(), statuses.iter().copied().collect());
    }

    fn seen(&self) -> Vec<Seen> {
        self.0.lock().unwrap().seen.clone()
    }
}

async fn answer(
    State(stand_in): State<StandIn>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let mut script = stand_in.0.lock().unwrap();
    script.seen.push(Seen {
        method,
        path: path.clone(),
        headers,
        body,
    });
    match script.failures.get_mut(&path).and_then(VecDeque::pop_front) {
        Some(status) => (
            StatusCode::from_u16(status).unwrap(),
            axum::Json(json!({"message": format!("scripted {status}")})),
        )
            .into_response(),
        // Deliberately not a full comment model: only the status may decide.
        None => (StatusCode::CREATED, axum::Json(json!({"id": 1}))).into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// Notices and notifiers

fn run(provider: Provider, git_ref: &str) -> RunIdentity {
    let (repository, repository_id, run_url) = match provider {
        Provider::Github => (
            "acme/payments",
            "42",
            "https://github.com/acme/payments/actions/runs/9001/attempts/1",
        ),
        Provider::Gitlab => (
            "acme/payments",
            "7",
            "https://gitlab.example.com/acme/payments/-/pipelines/9001",
        ),
    };
    RunIdentity {
        provider,
        repository: repository.into(),
        repository_id: repository_id.into(),
        owner: "acme".into(),
        owner_id: "1".into(),
        run_id: RunId::new("9001").unwrap(),
        attempt: 1,
        job_id: (provider == Provider::Gitlab).then(|| "71".into()),
        git_ref: Some(git_ref.into()),
        sha: Some(SHA.into()),
        workflow: None,
        environment: Some("production".into()),
        actor: Some("octocat".into()),
        actor_id: Some("5".into()),
        event: Some("push".into()),
        pull_request: git_ref.starts_with("refs/pull/") || git_ref.starts_with("refs/merge-"),
        run_url: Some(run_url.into()),
    }
}

fn notice(run: RunIdentity) -> Notice {
    let approval_id = uuid::Uuid::new_v4();
    let requested_at = Utc::now();
    Notice {
        approval_id,
        rule: "payments-writes".into(),
        reason: "UPDATE of public.payments".into(),
        statement: STATEMENT.into(),
        connection: "ledger".into(),
        run,
        requested_at,
        expires_at: requested_at + chrono::Duration::minutes(15),
        approve_url: format!("https://hoop.example.com/v1/approvals/{approval_id}"),
        approve_command: format!("hoop approvals approve {approval_id}"),
    }
}

/// A notifier of the given `[approvals.notify]` TOML, its secrets from a map.
fn notifier(toml_text: &str) -> Notifier {
    let config: NotifyConfig = toml::from_str(toml_text).expect("a valid [approvals.notify]");
    let env = HashMap::from([
        ("HOOK_SECRET".to_string(), WEBHOOK_SECRET.to_string()),
        ("GH_TOKEN".to_string(), GITHUB_TOKEN.to_string()),
        ("GL_TOKEN".to_string(), GITLAB_TOKEN.to_string()),
    ]);
    Notifier::new(&config, &env).expect("a notifier")
}

fn webhook(url: &str) -> String {
    format!("[webhook]\nurl = \"{url}/hook\"\nsecret = {{ env = \"HOOK_SECRET\" }}\n")
}

fn github(url: &str) -> String {
    format!("[github]\ntoken = {{ env = \"GH_TOKEN\" }}\napi_url = \"{url}\"\n")
}

fn gitlab(url: &str) -> String {
    format!("[gitlab]\ntoken = {{ env = \"GL_TOKEN\" }}\nurl = \"{url}\"\n")
}

/// Tiny waits, so retries take milliseconds.
const FAST: &str = "backoff = \"10ms\"\nmax_backoff = \"40ms\"\ntimeout = \"5s\"\n";

fn channels(results: &[(Channel, Result<(), NotifyError>)]) -> Vec<Channel> {
    results.iter().map(|(c, _)| *c).collect()
}

fn assert_delivered(results: Vec<(Channel, Result<(), NotifyError>)>, expected: &[Channel]) {
    assert_eq!(channels(&results), expected);
    for (channel, result) in results {
        if let Err(e) = result {
            panic!("{channel} not delivered: {e}");
        }
    }
}

/// The receiver's side of the signature, with an HMAC implementation other than hoop's.
fn signature_verifies(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(tag) = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("x"), 16))
        .collect::<Result<Vec<u8>, _>>()
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.verify_slice(&tag).is_ok()
}

/// The markdown comment says what is held and how to approve it.
fn assert_comment(text: &str, notice: &Notice) {
    assert!(
        text.contains(&format!("````sql\n{STATEMENT}\n````")),
        "the statement is not in a fence it cannot close:\n{text}"
    );
    for part in [
        "`payments-writes`",
        "`UPDATE of public.payments`",
        notice.run.run_url.as_deref().unwrap(),
        &notice.approve_command,
        &notice.approve_url,
    ] {
        assert!(text.contains(part), "{part} missing from:\n{text}");
    }
    assert!(
        !text.contains(GITHUB_TOKEN)
            && !text.contains(GITLAB_TOKEN)
            && !text.contains(WEBHOOK_SECRET)
    );
}

// ---------------------------------------------------------------------------------------------
// Webhook

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_deliveries_are_signed_over_the_exact_body() {
    let (stand_in, url) = StandIn::start().await;
    let notifier = notifier(&webhook(&url));
    let notice = notice(run(Provider::Github, "refs/heads/main"));
    assert_delivered(notifier.deliver_once(&notice).await, &[Channel::Webhook]);

    let seen = stand_in.seen();
    assert_eq!(seen.len(), 1);
    let hit = &seen[0];
    assert_eq!((&hit.method, hit.path.as_str()), (&Method::POST, "/hook"));
    assert_eq!(hit.header("content-type"), Some("application/json"));
    let signature = hit.header("x-hoop-signature").expect("X-Hoop-Signature");
    assert!(signature_verifies(WEBHOOK_SECRET, &hit.body, signature));
    assert!(!signature_verifies(
        "another-secret-of-16+",
        &hit.body,
        signature
    ));
    let mut tampered = hit.body.to_vec();
    tampered.push(b' ');
    assert!(!signature_verifies(WEBHOOK_SECRET, &tampered, signature));

    let body = hit.json();
    assert_eq!(body["event"], "approval.requested");
    assert_eq!(body["version"], 1);
    assert_eq!(body["approval_id"], notice.approval_id.to_string());
    assert_eq!(body["rule"], "payments-writes");
    assert_eq!(body["statement"], STATEMENT);
    assert_eq!(body["connection"], "ledger");
    assert_eq!(body["approve_url"], notice.approve_url);
    assert_eq!(body["approve_command"], notice.approve_command);
    assert_eq!(body["run"]["provider"], "github");
    assert_eq!(body["run"]["repository"], "acme/payments");
    assert_eq!(body["run"]["run_id"], "9001");
    assert_eq!(body["run"]["sha"], SHA);
    // The headers repeat signed values of the body.
    assert_eq!(
        hit.header("x-hoop-delivery"),
        body["delivery"].as_str(),
        "X-Hoop-Delivery"
    );
    let sent_at: DateTime<Utc> = body["sent_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        hit.header("x-hoop-timestamp"),
        Some(sent_at.timestamp().to_string().as_str())
    );
    assert!((Utc::now() - sent_at).num_seconds().abs() < 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_is_retried_until_it_accepts() {
    let (stand_in, url) = StandIn::start().await;
    stand_in.fail("/hook", &[500, 500]);
    let notifier = notifier(&format!("{FAST}{}", webhook(&url)));
    let notice = notice(run(Provider::Github, "refs/heads/main"));
    notify_and_wait(&notifier, notice.clone(), 1).await;
    // Nothing after the accepted third try.
    let seen = stand_in.seen();
    assert_eq!(seen.len(), 3);
    let ids: Vec<_> = seen.iter().map(|s| s.header("x-hoop-delivery")).collect();
    assert!(
        ids[0].is_some() && ids.iter().all(|id| *id == ids[0]),
        "one delivery id: {ids:?}"
    );
    for hit in &seen {
        let signature = hit.header("x-hoop-signature").unwrap();
        assert!(signature_verifies(WEBHOOK_SECRET, &hit.body, signature));
        assert_eq!(hit.json()["approval_id"], notice.approval_id.to_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_gives_up_after_the_configured_attempts() {
    let (stand_in, url) = StandIn::start().await;
    stand_in.fail("/hook", &[503; 10]);
    let notifier = notifier(&format!("attempts = 3\n{FAST}{}", webhook(&url)));
    notify_and_wait(
        &notifier,
        notice(run(Provider::Github, "refs/heads/main")),
        1,
    )
    .await;
    assert_eq!(stand_in.seen().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_receiver_is_an_error_naming_the_endpoint() {
    // A port nobody listens on: bound, then released.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let notifier = notifier(&webhook(&url));
    let results = notifier
        .deliver_once(&notice(run(Provider::Github, "refs/heads/main")))
        .await;
    let [(Channel::Webhook, Err(e))] = results.as_slice() else {
        panic!("{results:?}");
    };
    assert!(matches!(e, NotifyError::Unreachable { .. }), "{e}");
    assert!(e.is_retryable());
    assert!(e.to_string().contains(&format!("{url}/hook")), "{e}");
    assert!(e.to_string().contains(": no answer: "), "{e}");
}

// ---------------------------------------------------------------------------------------------
// GitHub

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_run_gets_a_pull_request_comment() {
    let (stand_in, url) = StandIn::start().await;
    let notifier = notifier(&github(&url));
    let notice = notice(run(Provider::Github, "refs/pull/42/merge"));
    assert_delivered(notifier.deliver_once(&notice).await, &[Channel::Github]);

    let seen = stand_in.seen();
    assert_eq!(seen.len(), 1);
    let hit = &seen[0];
    assert_eq!(hit.method, Method::POST);
    assert_eq!(hit.path, "/repos/acme/payments/issues/42/comments");
    let authorization = hit.header("authorization").expect("Authorization");
    assert!(authorization.contains(GITHUB_TOKEN), "{authorization}");
    assert_comment(hit.json()["body"].as_str().expect("a body"), &notice);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_run_gets_a_commit_comment() {
    let (stand_in, url) = StandIn::start().await;
    let notifier = notifier(&github(&url));
    let notice = notice(run(Provider::Github, "refs/heads/main"));
    assert_delivered(notifier.deliver_once(&notice).await, &[Channel::Github]);

    let seen = stand_in.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, Method::POST);
    assert_eq!(
        seen[0].path,
        format!("/repos/acme/payments/commits/{SHA}/comments")
    );
    assert!(
        seen[0]
            .header("authorization")
            .unwrap()
            .contains(GITHUB_TOKEN)
    );
    assert_comment(seen[0].json()["body"].as_str().unwrap(), &notice);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_refusal_names_the_endpoint_and_status_but_not_the_token() {
    let (stand_in, url) = StandIn::start().await;
    let path = "/repos/acme/payments/issues/42/comments";
    stand_in.fail(path, &[401]);
    let notifier = notifier(&github(&url));
    let results = notifier
        .deliver_once(&notice(run(Provider::Github, "refs/pull/42/head")))
        .await;
    let [(Channel::Github, Err(e))] = results.as_slice() else {
        panic!("{results:?}");
    };
    let message = e.to_string();
    assert_eq!(
        message,
        format!("GitHub: POST {url}{path} answered HTTP 401: scripted 401")
    );
    assert!(!message.contains(GITHUB_TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_that_is_not_owner_name_is_refused_without_a_request() {
    let (stand_in, url) = StandIn::start().await;
    let notifier = notifier(&github(&url));
    let mut run = run(Provider::Github, "refs/pull/42/merge");
    run.repository = "acme/payments/../../orgs/acme".into();
    let results = notifier.deliver_once(&notice(run)).await;
    let [(Channel::Github, Err(e @ NotifyError::Target { .. }))] = results.as_slice() else {
        panic!("{results:?}");
    };
    assert!(!e.is_retryable());
    assert!(stand_in.seen().is_empty());
}

// ---------------------------------------------------------------------------------------------
// GitLab

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_request_job_gets_a_merge_request_note() {
    let (stand_in, url) = StandIn::start().await;
    let notifier = notifier(&gitlab(&url));
    let notice = notice(run(Provider::Gitlab, "refs/merge-requests/3/head"));
    assert_delivered(notifier.deliver_once(&notice).await, &[Channel::Gitlab]);

    let seen = stand_in.seen();
    assert_eq!(seen.len(), 1);
    let hit = &seen[0];
    assert_eq!(hit.method, Method::POST);
    assert_eq!(hit.path, "/api/v4/projects/7/merge_requests/3/notes");
    assert_eq!(hit.header("private-token"), Some(GITLAB_TOKEN));
    assert_eq!(hit.header("authorization"), None);
    assert_comment(&hit.form()["body"], &notice);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_job_gets_a_commit_comment() {
    let (stand_in, url) = StandIn::start().await;
    let notifier = notifier(&gitlab(&url));
    let notice = notice(run(Provider::Gitlab, "main"));
    assert_delivered(notifier.deliver_once(&notice).await, &[Channel::Gitlab]);

    let seen = stand_in.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, Method::POST);
    assert_eq!(
        seen[0].path,
        format!("/api/v4/projects/7/repository/commits/{SHA}/comments")
    );
    assert_eq!(seen[0].header("private-token"), Some(GITLAB_TOKEN));
    assert_comment(&seen[0].form()["note"], &notice);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitlab_note_is_retried_through_the_crate() {
    let (stand_in, url) = StandIn::start().await;
    let path = "/api/v4/projects/7/merge_requests/3/notes";
    stand_in.fail(path, &[500, 502]);
    let notifier = notifier(&format!("{FAST}{}", gitlab(&url)));
    let notice = notice(run(Provider::Gitlab, "refs/merge-requests/3/merge"));
    let results = notifier.deliver_once(&notice).await;
    let [(Channel::Gitlab, Err(e))] = results.as_slice() else {
        panic!("{results:?}");
    };
    assert_eq!(
        e.to_string(),
        format!("GitLab: POST {url}{path} answered HTTP 500: scripted 500")
    );
    notify_and_wait(&notifier, notice, 1).await;
    let seen = stand_in.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s.path == path));
}

// ---------------------------------------------------------------------------------------------
// Routing

/// On one thread, so that no task starts or ends between two looks at the runtime: `notify`
/// starts a delivery task per channel that applies, and here none does.
#[tokio::test(flavor = "current_thread")]
async fn a_forge_channel_ignores_the_other_forges_runs() {
    let (stand_in, url) = StandIn::start().await;
    let tasks = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };
    let github_only = notifier(&github(&url));
    let results = github_only
        .deliver_once(&notice(run(Provider::Gitlab, "refs/merge-requests/3/head")))
        .await;
    assert!(results.is_empty(), "{results:?}");
    let before = tasks();
    github_only.notify(notice(run(Provider::Gitlab, "main")));
    assert_eq!(tasks(), before, "a delivery task was started");

    let gitlab_only = notifier(&gitlab(&url));
    let results = gitlab_only
        .deliver_once(&notice(run(Provider::Github, "refs/pull/42/merge")))
        .await;
    assert!(results.is_empty(), "{results:?}");
    let before = tasks();
    gitlab_only.notify(notice(run(Provider::Github, "refs/pull/42/merge")));
    assert_eq!(tasks(), before, "a delivery task was started");
    // The same notifiers do start one for their own forge's runs.
    github_only.notify(notice(run(Provider::Github, "refs/pull/42/merge")));
    assert_eq!(tasks(), before + 1);
    assert!(stand_in.seen().is_empty(), "{:?}", stand_in.seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_channel_that_applies_gets_the_notice() {
    let (stand_in, url) = StandIn::start().await;
    let notifier = notifier(&format!(
        "{}{}{}",
        webhook(&url),
        github(&url),
        gitlab(&url)
    ));
    let notice = notice(run(Provider::Gitlab, "refs/merge-requests/3/head"));
    assert_delivered(
        notifier.deliver_once(&notice).await,
        &[Channel::Webhook, Channel::Gitlab],
    );
    notify_and_wait(&notifier, notice, 2).await;
    let seen = stand_in.seen();
    let mut paths: Vec<_> = seen.iter().map(|s| s.path.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "/api/v4/projects/7/merge_requests/3/notes",
            "/api/v4/projects/7/merge_requests/3/notes",
            "/hook",
            "/hook"
        ]
    );
}

/// Text a client or a token chose reaches every channel with its hidden characters escaped:
/// the GitHub comment and the GitLab note show `\u{202e}` and `\u{200b}`, never the characters;
/// the webhook keeps the exact statement and adds the escaped one under `display`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_characters_reach_people_escaped() {
    let (stand_in, url) = StandIn::start().await;
    let notifier = notifier(&format!(
        "{}{}{}",
        webhook(&url),
        github(&url),
        gitlab(&url)
    ));
    let sneaky = "DELETE FROM payments -- \u{202e}llun\u{202c}\u{200b}";
    let escaped = "DELETE FROM payments -- \\u{202e}llun\\u{202c}\\u{200b}";
    let hidden = ['\u{202e}', '\u{202c}', '\u{200b}', '\u{2066}'];
    for run in [
        run(Provider::Github, "refs/pull/42/merge"),
        run(Provider::Gitlab, "refs/merge-requests/3/head"),
    ] {
        let mut notice = notice(run);
        notice.statement = sneaky.into();
        notice.reason = "\u{2066}harmless\u{2069}".into();
        let results = notifier.deliver_once(&notice).await;
        assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");
    }
    let seen = stand_in.seen();
    assert_eq!(seen.len(), 4, "two webhooks, one comment, one note");
    for hit in &seen {
        match hit.path.as_str() {
            "/hook" => {
                let json = hit.json();
                assert_eq!(json["statement"], sneaky);
                assert_eq!(json["display"]["statement"], escaped);
                assert_eq!(json["display"]["reason"], "\\u{2066}harmless\\u{2069}");
            }
            path => {
                let body = if path.starts_with("/api/v4/") {
                    hit.form()["body"].clone()
                } else {
                    hit.json()["body"].as_str().unwrap().to_owned()
                };
                assert!(body.contains(escaped), "{path}: {body}");
                assert!(
                    body.contains("`\\u{2066}harmless\\u{2069}`"),
                    "{path}: {body}"
                );
                assert!(!body.contains(hidden), "{path}: {body}");
            }
        }
    }
}
