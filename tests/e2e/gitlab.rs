//! The GitLab CI template, `templates/hoop.gitlab-ci.yml`: parsed as YAML, and its scripts run
//! with `sh` (dash) the way a runner does, in a GitLab-like environment against the real service.
//! `before_script` and the job's script share one shell; `after_script` runs in a new one.
//! The job image is simulated by a `PATH` holding only what such an image has: `sh`, `curl`,
//! `psql` and a few core tools, without `jq` unless a test adds it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::*;
use serde_norway::Value as Yaml;

const TEMPLATE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../templates/hoop.gitlab-ci.yml"
);
const JOB: &str = ".hoop-db";
/// Tools of a minimal job image; `sh` is dash.
const IMAGE_TOOLS: &[&str] = &["curl", "psql", "sed", "tr", "cat", "rm", "mkdir"];

fn template() -> Yaml {
    let text = std::fs::read_to_string(TEMPLATE).expect("reading the template");
    serde_norway::from_str(&text).expect("templates/hoop.gitlab-ci.yml is not valid YAML")
}

/// A script list of the hidden job, joined into one shell script (GitLab runs the entries in
/// order in one shell).
fn script(key: &str) -> String {
    let entries = template()[JOB][key]
        .as_sequence()
        .unwrap_or_else(|| panic!("{JOB}.{key} is not a list"))
        .iter()
        .map(|entry| {
            entry
                .as_str()
                .unwrap_or_else(|| panic!("{JOB}.{key} has a non-string entry"))
                .to_owned()
        })
        .collect::<Vec<_>>();
    entries.join("\n")
}

/// Finds `name` in the host's PATH.
fn which(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("{name} must be installed for this test"))
}

/// One CI job: its project directory, a bin directory standing for the image, and variables.
struct Job {
    dir: ScratchDir,
    vars: Vec<(String, String)>,
}

impl Job {
    fn new(api: &str, token: &str, extra_tools: &[&str]) -> Job {
        let dir = ScratchDir::new();
        let bin = dir.0.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(dir.0.join("project")).unwrap();
        std::os::unix::fs::symlink(which("dash"), bin.join("sh")).unwrap();
        for tool in IMAGE_TOOLS.iter().chain(extra_tools) {
            std::os::unix::fs::symlink(which(tool), bin.join(tool)).unwrap();
        }
        let project = dir.0.join("project").display().to_string();
        let vars = [
            ("PATH", bin.display().to_string()),
            ("HOME", dir.0.display().to_string()),
            ("CI", "true".into()),
            ("GITLAB_CI", "true".into()),
            ("CI_JOB_ID", "20021".into()),
            ("CI_PIPELINE_ID", "2002".into()),
            ("CI_PROJECT_ID", GITLAB_PROJECT_ID.to_string()),
            ("CI_PROJECT_PATH", GITLAB_PROJECT.into()),
            ("CI_PROJECT_DIR", project),
            ("HOOP_URL", format!("{api}/")),
            ("HOOP_CONNECTION", CONNECTION.into()),
            ("HOOP_ID_TOKEN", token.into()),
        ];
        Job {
            dir,
            vars: vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        }
    }

    /// Sets a CI/CD variable.
    fn set(&mut self, name: &str, value: &str) {
        self.vars.retain(|(k, _)| k != name);
        self.vars.push((name.to_owned(), value.to_owned()));
    }

    fn project_dir(&self) -> PathBuf {
        self.dir.0.join("project")
    }

    /// Runs `text` with `sh -c` in the project directory, in a new shell with the job's variables
    /// only. `-e` as GitLab's runner shells do.
    async fn shell(&self, text: &str) -> Output {
        let mut sh = tokio::process::Command::new(which("dash"));
        sh.arg("-e")
            .arg("-c")
            .arg(text)
            .current_dir(self.project_dir())
            .env_clear()
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        tokio::time::timeout(WAIT, sh.output())
            .await
            .expect("the job shell did not finish in time")
            .expect("running sh")
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.0.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .trim_end()
            .to_owned()
    }
}

fn log_of(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn signature(token: &str) -> &str {
    token.rsplit('.').next().unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_template_is_an_extendable_hidden_job_with_an_id_token() {
    let yaml = template();
    let job = &yaml[JOB];
    assert!(job.is_mapping(), "no hidden job {JOB}");
    assert_eq!(
        job["id_tokens"]["HOOP_ID_TOKEN"]["aud"].as_str(),
        Some("hoop")
    );
    // A template job to extend: the job brings its own script, image and variables.
    assert!(job.get("script").is_none(), "{JOB} must not define script");
    for key in ["before_script", "after_script"] {
        let text = script(key);
        assert!(!text.trim().is_empty(), "{key} is empty");
        assert!(!text.contains("set -x"), "{key} must never trace");
        // POSIX sh: dash parses it.
        let check = std::process::Command::new(which("dash"))
            .args(["-n", "-c", &text])
            .output()
            .unwrap();
        assert!(check.status.success(), "{key}: {}", log_of(&check));
    }
}

/// before_script → psql → after_script, as a runner runs them, and what each must leave behind.
async fn run_job_through_psql(hoop: &Hoop, extra_tools: &[&str]) {
    let token = hoop.gitlab_token(2002);
    let job = Job::new(&hoop.api, &token, extra_tools);

    // The job's own script: records what the template exported (for the assertions below,
    // outside the log), then psql through the gateway. The harness' credentials name a public
    // host and port that do not resolve here and sslmode=disable; the gateway is reached at
    // 127.0.0.1 (hostaddr), with TLS.
    let job_script = format!(
        r#"
printf '%s\n' "$PGPASSWORD" > ../password
printf '%s %s %s %s %s %s\n' "$PGHOST" "$PGPORT" "$PGUSER" "$PGDATABASE" "$PGSSLMODE" "$HOOP_CREDENTIAL_ID" > ../exported
printf '%s\n' "$DATABASE_URL" > ../database_url
printf '%s\n' "$HOOP_EXPIRES_AT" > ../expires_at
PGHOSTADDR=127.0.0.1 PGPORT={port} PGSSLMODE=require PGCONNECT_TIMEOUT=10 \
  psql -X -A -t -v ON_ERROR_STOP=1 -c 'select count(*) from {TABLE}'
"#,
        port = hoop.gateway_port
    );
    let first = job
        .shell(&format!("{}\n{job_script}", script("before_script")))
        .await;
    let first_log = log_of(&first);
    assert!(
        first.status.success(),
        "before_script + script:\n{first_log}"
    );
    assert!(
        String::from_utf8_lossy(&first.stdout)
            .lines()
            .any(|l| l == "3"),
        "psql did not count the table:\n{first_log}"
    );

    let password = job.read("password");
    let exported = job.read("exported");
    let fields: Vec<&str> = exported.split(' ').collect();
    let [host, port, user, database, sslmode, id] = fields[..] else {
        panic!("exported: {exported:?}");
    };
    assert_eq!(password.len(), 43, "PGPASSWORD");
    assert_eq!((host, port), ("db.hoop.test", "7432"));
    assert!(user.starts_with("run-2002-1-"), "PGUSER {user}");
    assert_eq!(database, hoop.db.name);
    assert_eq!(sslmode, "disable", "the harness' connection sslmode");
    assert_eq!(
        job.read("database_url"),
        format!("postgres://{user}:{password}@{host}:{port}/{database}?sslmode={sslmode}")
    );
    let id_file = job.project_dir().join(".hoop/credential-id");
    assert_eq!(std::fs::read_to_string(&id_file).unwrap().trim(), id);
    assert_eq!(mode(&id_file), 0o600);
    assert_eq!(mode(&job.project_dir().join(".hoop")), 0o700);
    assert_eq!(hoop.db.credential_state(id).await, "active");

    // after_script: a new shell, without the exported variables.
    let second = job.shell(&script("after_script")).await;
    let second_log = log_of(&second);
    assert!(second.status.success(), "after_script:\n{second_log}");
    assert!(
        second_log.contains(&format!("hoop: revoked credential {id}")),
        "{second_log}"
    );
    assert!(!id_file.exists(), "after_script leaves the credential id");
    assert_eq!(hoop.db.credential_state(id).await, "revoked");
    assert!(!hoop.db.role_exists(user).await, "the run role survived");

    // The job log holds neither the password nor the id token.
    let job_log = format!("{first_log}{second_log}");
    assert!(
        !job_log.contains(&password),
        "the password is in the job log"
    );
    assert!(
        !job_log.contains(signature(&token)),
        "the token is in the job log"
    );
    assert!(
        job_log.contains(&format!("hoop: credential {id} for {user}@")),
        "{job_log}"
    );

    // The credential is dead: the same variables no longer log in.
    let credential = Credential {
        id: id.to_owned(),
        username: user.to_owned(),
        password,
        expires_at: chrono::DateTime::parse_from_rfc3339(&job.read("expires_at"))
            .unwrap()
            .to_utc(),
    };
    let again = hoop.psql(&credential, &["-c", "select 1"]);
    assert!(
        !again.status.success(),
        "the revoked credential still connects"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn before_script_exports_what_psql_needs_and_after_script_revokes() {
    let hoop = Hoop::start(Options::default()).await;
    // Without jq: the sed fallback reads the response.
    run_job_through_psql(&hoop, &[]).await;
    // With jq in the image.
    run_job_through_psql(&hoop, &["jq"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_exchange_fails_the_job_and_shows_the_claims_not_the_token() {
    let hoop = Hoop::start(Options::default()).await;
    // Another project: no trust rule matches.
    let token = hoop
        .gitlab
        .mint(&hoop.gitlab.gitlab_claims(AUDIENCE, "evil/ledger", 9999, 77));
    let job = Job::new(&hoop.api, &token, &["base64"]);

    let first = job
        .shell(&format!("{}\necho job script ran", script("before_script")))
        .await;
    let log = log_of(&first);
    assert_eq!(first.status.code(), Some(1), "{log}");
    assert!(!log.contains("job script ran"), "{log}");
    assert!(
        log.contains("hoop: the exchange was refused: no_matching_trust_rule: "),
        "{log}"
    );
    for claim in [
        "  project_id: 9999",
        "  project_path: evil/ledger",
        "  ref: main",
        "  ref_protected: true",
        "  pipeline_source: push",
        "  environment: (absent)",
    ] {
        assert!(log.contains(claim), "{claim:?} missing:\n{log}");
    }
    assert!(!log.contains(signature(&token)), "the token is in the log");
    assert!(
        !job.project_dir().join(".hoop/credential-id").exists(),
        "{log}"
    );
    assert_eq!(hoop.db.credential_count().await, 0);

    let second = job.shell(&script("after_script")).await;
    assert!(second.status.success(), "{}", log_of(&second));
    assert!(log_of(&second).contains("nothing to revoke"));

    // The right project, but HOOP_ROLE names a role its rule does not grant.
    let mut job = Job::new(&hoop.api, &hoop.gitlab_token(2002), &[]);
    job.set("HOOP_ROLE", "ci_migrator");
    let first = job.shell(&script("before_script")).await;
    let log = log_of(&first);
    assert_eq!(first.status.code(), Some(1), "{log}");
    assert!(
        log.contains("hoop: the exchange was refused: role_not_granted: "),
        "{log}"
    );
    assert!(
        log.contains("HOOP_ROLE (\"ci_migrator\") is not the role"),
        "{log}"
    );
    assert_eq!(hoop.db.credential_count().await, 0);
}

#[tokio::test]
async fn an_unreachable_hoop_is_named() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let job = Job::new(&url, "a.b.c", &[]);
    let first = job.shell(&script("before_script")).await;
    let log = log_of(&first);
    assert_eq!(first.status.code(), Some(1), "{log}");
    assert!(
        log.contains(&format!("hoop: cannot reach hoop at {url} (curl exit 7")),
        "{log}"
    );
}
