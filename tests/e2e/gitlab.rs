//! The GitLab CI include template, `templates/hoop.gitlab-ci.yml`, and the CI/CD component
//! generated from it, `templates/hoop-db/template.yml`: parsed as YAML, and their scripts run with
//! `sh` (dash; busybox ash) the way a runner does, in a GitLab-like environment
//! against the real service. `before_script` and the job's script share one shell;
//! `after_script` runs in a new one.
//! The job image is simulated by a `PATH` holding only what such an image has: `sh`, `curl`,
//! `psql` and a few core tools, without `jq` unless a test adds it. `curl` is a wrapper that
//! records its command lines (which must never hold a secret) and runs the real one.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::fronts::{FakeHoop, ForwardProxy, Front, NotHoop, TlsFront};
use crate::support::*;
use serde_norway::Value as Yaml;

const TEMPLATE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../templates/hoop.gitlab-ci.yml"
);
const COMPONENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../templates/hoop-db/template.yml"
);
const GENERATOR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../templates/hoop-db/generate.sh"
);
const JOB: &str = ".hoop-db";
const JOB_ID: &str = "20021";
/// Tools of a minimal job image besides `sh` and `curl`.
const IMAGE_TOOLS: &[&str] = &["psql", "sed", "tr", "cat", "ls", "rm", "mkdir", "sleep"];

fn template() -> Yaml {
    let text = std::fs::read_to_string(TEMPLATE).expect("reading the template");
    serde_norway::from_str(&text).expect("templates/hoop.gitlab-ci.yml is not valid YAML")
}

/// A script list of a job, joined into one shell script (GitLab runs the entries in order in
/// one shell).
fn script_of(job: &Yaml, key: &str) -> String {
    let entries = job[key]
        .as_sequence()
        .unwrap_or_else(|| panic!("{key} is not a list"))
        .iter()
        .map(|entry| {
            entry
                .as_str()
                .unwrap_or_else(|| panic!("{key} has a non-string entry"))
                .to_owned()
        })
        .collect::<Vec<_>>();
    entries.join("\n")
}

/// A script list of the include template's hidden job.
fn script(key: &str) -> String {
    script_of(&template()[JOB], key)
}

/// The component as GitLab reads it: its spec, and its content with `$[[ inputs.x ]]` replaced
/// by the given inputs or the spec's defaults (a required input left out panics, as GitLab
/// refuses the pipeline).
fn component(inputs: &[(&str, &str)]) -> (Yaml, Yaml) {
    let text = std::fs::read_to_string(COMPONENT).expect("reading the component");
    let (header, content) = text
        .split_once("\n---\n")
        .expect("the component has no spec header and --- separator");
    let spec: Yaml = serde_norway::from_str(header).expect("the component's spec is not YAML");
    let declared = spec["spec"]["inputs"]
        .as_mapping()
        .expect("no spec:inputs")
        .clone();
    let mut content = content.to_owned();
    for (name, input) in &declared {
        let name = name.as_str().unwrap();
        let value = inputs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
            .or_else(|| input["default"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("input {name} is required and was not given"));
        content = content.replace(&format!("$[[ inputs.{name} ]]"), &value);
    }
    for (name, _) in inputs {
        assert!(
            declared.contains_key(*name),
            "the component has no input {name}"
        );
    }
    assert!(
        !content.contains("$[["),
        "an interpolation names no declared input"
    );
    let content: Yaml =
        serde_norway::from_str(&content).expect("the component's content is not YAML");
    (spec, content)
}

/// Finds `name` in the host's PATH.
fn which(name: &str) -> PathBuf {
    try_which(name).unwrap_or_else(|| panic!("{name} must be installed for this test"))
}

fn try_which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// What the job image is made of.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Image {
    /// dash, GNU tools, no jq.
    Debian,
    /// dash, GNU tools and jq.
    DebianJq,
    /// busybox's ash and tools (as Alpine has them), and curl; `pipefail` on.
    Busybox,
    /// bash with `-o pipefail`, as the runner runs the scripts when the image has bash.
    Bash,
}

/// The images to run a script in (tests/setup installs busybox).
fn images() -> Vec<Image> {
    vec![Image::Debian, Image::DebianJq, Image::Bash, Image::Busybox]
}

/// One CI job: its directories (the project's checkout, TMPDIR, a bin directory standing for
/// the image), its shell, and its variables.
struct Job {
    dir: ScratchDir,
    shell: PathBuf,
    /// The shell's options: `-e`, and `-o pipefail` where the runner sets it.
    options: Vec<&'static str>,
    vars: Vec<(String, String)>,
}

impl Job {
    fn new(api: &str, token: &str, extra_tools: &[&str]) -> Job {
        Job::in_image(api, token, Image::Debian, extra_tools)
    }

    fn in_image(api: &str, token: &str, image: Image, extra_tools: &[&str]) -> Job {
        let dir = ScratchDir::new();
        let bin = dir.0.join("bin");
        for sub in ["bin", "project", "tmp"] {
            std::fs::create_dir_all(dir.0.join(sub)).unwrap();
        }
        let mut tools: Vec<&str> = IMAGE_TOOLS.to_vec();
        tools.extend(extra_tools);
        if image == Image::DebianJq {
            tools.push("jq");
        }
        let shell = if image == Image::Busybox {
            let busybox = which("busybox");
            std::os::unix::fs::symlink(&busybox, bin.join("sh")).unwrap();
            for tool in tools {
                let target = if tool == "psql" {
                    which(tool)
                } else {
                    busybox.clone()
                };
                std::os::unix::fs::symlink(target, bin.join(tool)).unwrap();
            }
            bin.join("sh")
        } else {
            let shell = if image == Image::Bash { "bash" } else { "dash" };
            std::os::unix::fs::symlink(which(shell), bin.join("sh")).unwrap();
            for tool in tools {
                std::os::unix::fs::symlink(which(tool), bin.join(tool)).unwrap();
            }
            which(shell)
        };
        let options = match image {
            Image::Busybox | Image::Bash => vec!["-e", "-o", "pipefail"],
            Image::Debian | Image::DebianJq => vec!["-e"],
        };
        let job = Job {
            dir,
            shell,
            options,
            vars: Vec::new(),
        };
        job.install_curl(&format!("exec '{}' \"$@\"\n", which("curl").display()));
        let project = job.project_dir().display().to_string();
        let vars = [
            ("PATH", bin.display().to_string()),
            ("HOME", job.dir.0.display().to_string()),
            ("TMPDIR", job.dir.0.join("tmp").display().to_string()),
            ("CI", "true".into()),
            ("GITLAB_CI", "true".into()),
            ("CI_JOB_ID", JOB_ID.into()),
            ("CI_PIPELINE_ID", "2002".into()),
            ("CI_PROJECT_ID", GITLAB_PROJECT_ID.to_string()),
            ("CI_PROJECT_PATH", GITLAB_PROJECT.into()),
            ("CI_PROJECT_DIR", project),
            ("HOOP_URL", format!("{api}/")),
            ("HOOP_CONNECTION", CONNECTION.into()),
            ("HOOP_ID_TOKEN", token.into()),
        ];
        Job {
            vars: vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            ..job
        }
    }

    /// Makes the image's `curl` a script that records its command line, then runs `body`.
    fn install_curl(&self, body: &str) {
        let path = self.dir.0.join("bin/curl");
        let _ = std::fs::remove_file(&path);
        let log = self.dir.0.join("curl-argv");
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\n{body}",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Every command line curl was run with.
    fn curl_command_lines(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("curl-argv")).unwrap_or_default()
    }

    /// Sets a CI/CD variable.
    fn set(&mut self, name: &str, value: &str) {
        self.unset(name);
        self.vars.push((name.to_owned(), value.to_owned()));
    }

    fn unset(&mut self, name: &str) {
        self.vars.retain(|(k, _)| k != name);
    }

    fn project_dir(&self) -> PathBuf {
        self.dir.0.join("project")
    }

    /// Where the scripts keep the job's state: under TMPDIR, named for the job.
    fn state_dir(&self) -> PathBuf {
        self.dir.0.join("tmp").join(format!("hoop-job-{JOB_ID}"))
    }

    /// Runs `text` with `sh -c` in the project directory, in a new shell with the job's variables
    /// only. `-e` (and `-o pipefail` in bash and ash) as GitLab's runner shells do.
    async fn shell(&self, text: &str) -> Output {
        let mut sh = tokio::process::Command::new(&self.shell);
        sh.args(&self.options)
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

    /// Runs `before_script` (the template's or the component's), asserts that it succeeded,
    /// and returns its log and the id of the credential it exported.
    async fn exchange(&self, before_script: &str) -> (String, String) {
        let out = self
            .shell(&format!(
                "{before_script}\nprintf '%s\\n' \"$HOOP_CREDENTIAL_ID\" > ../id"
            ))
            .await;
        let log = log_of(&out);
        assert!(out.status.success(), "{log}");
        (log, self.read("id"))
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

/// The names in a directory.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Lines of the log that start with `prefix`.
fn lines_starting<'a>(log: &'a str, prefix: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.starts_with(prefix)).collect()
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
        // Inputs are interpolated into the component's copy: the scripts must hold none.
        assert!(!text.contains("$[["), "{key} holds $[[");
        // POSIX sh: dash and busybox ash parse it.
        for shell in [vec![which("dash")], vec![which("busybox"), "ash".into()]] {
            let check = std::process::Command::new(&shell[0])
                .args(&shell[1..])
                .args(["-n", "-c", &text])
                .output()
                .unwrap();
            assert!(
                check.status.success(),
                "{key} ({shell:?}): {}",
                log_of(&check)
            );
        }
        // shellcheck as POSIX sh (tests/setup installs it): no bashism, no unquoted expansion.
        {
            let mut check = std::process::Command::new(which("shellcheck"))
                .args(["-s", "sh", "-"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write as _;
            check
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            let out = check.wait_with_output().unwrap();
            assert!(out.status.success(), "{key}: shellcheck:\n{}", log_of(&out));
        }
    }
    // Both scripts define the same functions: one YAML anchor, not two copies.
    let before = script("before_script");
    let after = script("after_script");
    let functions = template()[JOB]["before_script"][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(before.starts_with(&functions) && after.starts_with(&functions));
    let text = std::fs::read_to_string(TEMPLATE).unwrap();
    assert_eq!(
        text.matches("hoop_request() {").count(),
        1,
        "copied functions"
    );
}

#[test]
fn the_component_is_generated_from_the_template_and_takes_inputs() {
    // In sync: generate.sh writes the committed file byte for byte.
    let scratch = ScratchDir::new();
    let out = scratch.0.join("template.yml");
    let run = std::process::Command::new(which("sh"))
        .arg(GENERATOR)
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "generate.sh: {}", log_of(&run));
    assert!(
        std::fs::read_to_string(&out).unwrap() == std::fs::read_to_string(COMPONENT).unwrap(),
        "templates/hoop-db/template.yml differs from what templates/hoop-db/generate.sh writes: run it"
    );

    // The spec: url and connection required, the rest defaulted.
    let (spec, _) = component(&[("url", "https://h"), ("connection", "c")]);
    let inputs = &spec["spec"]["inputs"];
    for required in ["url", "connection"] {
        assert!(
            inputs[required].is_mapping() && inputs[required].get("default").is_none(),
            "{required} must be a required input"
        );
    }
    for (input, default) in [
        ("audience", "hoop"),
        ("role", ""),
        ("ca", ""),
        ("attempts", "4"),
        ("job-name", JOB),
    ] {
        assert_eq!(inputs[input]["default"].as_str(), Some(default), "{input}");
    }
    for (name, input) in inputs.as_mapping().unwrap() {
        assert!(
            input["description"].as_str().is_some_and(|d| !d.is_empty()),
            "input {name:?} has no description"
        );
    }

    // Defaults: the hidden job .hoop-db, audience hoop, the include template's scripts.
    let (_, content) = component(&[("url", "https://hoop.internal"), ("connection", "ledger")]);
    let job = &content[JOB];
    assert_eq!(
        job["id_tokens"]["HOOP_ID_TOKEN"]["aud"].as_str(),
        Some("hoop")
    );
    assert!(
        job.get("script").is_none(),
        "the component must not define script"
    );
    for key in ["before_script", "after_script"] {
        assert_eq!(script_of(job, key), script(key), "{key}");
    }
    let variables = &job["variables"];
    for (name, value) in [
        ("HOOP_URL", "https://hoop.internal"),
        ("HOOP_CONNECTION", "ledger"),
        ("HOOP_ROLE", ""),
        ("HOOP_CA_CERT", ""),
        ("HOOP_ATTEMPTS", "4"),
    ] {
        assert_eq!(variables[name].as_str(), Some(value), "{name}");
    }

    // Every input lands where the scripts read it.
    let (_, content) = component(&[
        ("url", "https://hoop.example"),
        ("connection", "payments"),
        ("audience", "hoop-prod"),
        ("role", "ci_migrator"),
        ("ca", "HOOP_PROD_CA"),
        ("attempts", "2"),
        ("job-name", ".hoop-payments"),
    ]);
    assert!(content.get(JOB).is_none(), "{:?}", content);
    let job = &content[".hoop-payments"];
    assert_eq!(
        job["id_tokens"]["HOOP_ID_TOKEN"]["aud"].as_str(),
        Some("hoop-prod")
    );
    for (name, value) in [
        ("HOOP_URL", "https://hoop.example"),
        ("HOOP_CONNECTION", "payments"),
        ("HOOP_ROLE", "ci_migrator"),
        ("HOOP_CA_CERT", "HOOP_PROD_CA"),
        ("HOOP_ATTEMPTS", "2"),
    ] {
        assert_eq!(job["variables"][name].as_str(), Some(value), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_extending_the_component_gets_and_revokes_a_credential() {
    let hoop = Hoop::start(Options::default()).await;
    let token = hoop.gitlab_token(2002);
    let (_, content) = component(&[
        ("url", &hoop.api),
        ("connection", CONNECTION),
        ("audience", AUDIENCE),
        ("job-name", ".hoop-ledger"),
    ]);
    let job_def = &content[".hoop-ledger"];
    // The job's variables are the component's: none of the test's own HOOP_* ones.
    let mut job = Job::new("http://unused.invalid", &token, &[]);
    job.unset("HOOP_URL");
    job.unset("HOOP_CONNECTION");
    for (name, value) in job_def["variables"].as_mapping().unwrap() {
        job.set(name.as_str().unwrap(), value.as_str().unwrap());
    }
    let (_, id) = job.exchange(&script_of(job_def, "before_script")).await;
    assert_eq!(hoop.db.credential_state(&id).await, "active");
    let second = job.shell(&script_of(job_def, "after_script")).await;
    assert!(second.status.success(), "{}", log_of(&second));
    assert_eq!(hoop.db.credential_state(&id).await, "revoked");
}

/// before_script → psql → after_script, as a runner runs them, and what each must leave behind.
async fn run_job_through_psql(hoop: &Hoop, image: Image) {
    let token = hoop.gitlab_token(2002);
    let job = Job::in_image(&hoop.api, &token, image, &[]);

    // The job's own script: records what the template exported (for the assertions below,
    // outside the log), then psql through the gateway. The harness' credentials name a public
    // host and port that do not resolve here; the gateway is reached at 127.0.0.1 (hostaddr),
    // with TLS verified as exported: verify-full with the CA hoop sent, for the public host
    // name.
    let job_script = format!(
        r#"
printf '%s\n' "$PGPASSWORD" > ../password
printf '%s %s %s %s %s %s %s %s\n' "$PGHOST" "$PGPORT" "$PGUSER" "$PGDATABASE" "$PGSSLMODE" "$HOOP_CREDENTIAL_ID" "$HOOP_MAX_SESSIONS" "$PGSSLROOTCERT" > ../exported
printf '%s\n' "$DATABASE_URL" > ../database_url
printf '%s\n' "$HOOP_EXPIRES_AT" > ../expires_at
PGHOSTADDR=127.0.0.1 PGPORT={port} PGCONNECT_TIMEOUT=10 \
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
        "{image:?}: before_script + script:\n{first_log}"
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
    let [host, port, user, database, sslmode, id, max_sessions, root] = fields[..] else {
        panic!("exported: {exported:?}");
    };
    assert_eq!(password.len(), 43, "PGPASSWORD");
    assert_eq!((host, port), ("db.hoop.test", "7432"));
    assert!(user.starts_with("run-2002-1-"), "PGUSER {user}");
    assert_eq!(database, hoop.db.name);
    // hoop sent the gateway's CA: written to the state directory, and verify-full everywhere.
    let state = job.state_dir();
    let ca = state.join("ca.pem");
    assert_eq!((sslmode, root), ("verify-full", ca.to_str().unwrap()));
    assert!(
        std::fs::read_to_string(&ca)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----\n"),
        "ca.pem"
    );
    assert_eq!(
        job.read("database_url"),
        format!(
            "postgres://{user}:{password}@{host}:{port}/{database}?sslmode=verify-full&sslrootcert={}",
            ca.display()
        )
    );
    // The rule's session limit, exported and said.
    let limit: i32 = hoop
        .db
        .client()
        .await
        .query_one(
            "SELECT max_sessions FROM hoop_credentials WHERE id = $1::text::uuid",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(max_sessions, limit.to_string(), "HOOP_MAX_SESSIONS");
    assert!(
        first_log.contains(&format!(
            "hoop: at most {limit} sessions at once (HOOP_MAX_SESSIONS): size connection pools to it"
        )),
        "{first_log}"
    );

    // The checkout stays clean: the job's state is under TMPDIR, private to the job.
    assert_eq!(
        entries(&job.project_dir()),
        Vec::<String>::new(),
        "before_script wrote into the checkout"
    );
    assert_eq!(mode(&state), 0o700);
    assert_eq!(
        entries(&state),
        [
            "ca.pem",
            "complete",
            "credential-id",
            "expires-at",
            "revoke-token"
        ]
    );
    for file in entries(&state) {
        assert_eq!(mode(&state.join(&file)), 0o600, "{file}");
    }
    let id_file = state.join("credential-id");
    assert_eq!(std::fs::read_to_string(&id_file).unwrap().trim(), id);
    let revoke_token = std::fs::read_to_string(state.join("revoke-token"))
        .unwrap()
        .trim()
        .to_owned();
    assert!(revoke_token.starts_with("hoop-revoke."), "revoke-token");
    assert_eq!(hoop.db.credential_state(id).await, "active");

    // after_script: a new shell, without the exported variables.
    let second = job.shell(&script("after_script")).await;
    let second_log = log_of(&second);
    assert!(second.status.success(), "after_script:\n{second_log}");
    assert!(
        second_log.contains(&format!("hoop: revoked credential {id}")),
        "{second_log}"
    );
    assert!(!state.exists(), "after_script leaves the job's state");
    assert_eq!(hoop.db.credential_state(id).await, "revoked");
    assert!(!hoop.db.role_exists(user).await, "the run role survived");

    // The job log holds neither the password nor the id token, and no curl command line does.
    let job_log = format!("{first_log}{second_log}");
    let command_lines = job.curl_command_lines();
    assert!(command_lines.contains("/v1/exchange"), "{command_lines}");
    for (what, secret) in [
        ("password", password.as_str()),
        ("token", signature(&token)),
        ("revoke token", revoke_token.as_str()),
    ] {
        assert!(!job_log.contains(secret), "the {what} is in the job log");
        assert!(
            !command_lines.contains(secret),
            "the {what} is on curl's command line"
        );
    }
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
    run_job_through_psql(&hoop, Image::Debian).await;
    // With jq in the image.
    run_job_through_psql(&hoop, Image::DebianJq).await;
    // bash with pipefail, as the runner runs an image that has bash.
    run_job_through_psql(&hoop, Image::Bash).await;
    // busybox's ash, sed and tr, as in an Alpine image.
    run_job_through_psql(&hoop, Image::Busybox).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_exchange_fails_the_job_and_shows_the_claims_not_the_token() {
    let hoop = Hoop::start(Options::default()).await;
    for image in images() {
        // Another project: no trust rule matches.
        let token = hoop
            .gitlab
            .mint(&hoop.gitlab.gitlab_claims(AUDIENCE, "evil/ledger", 9999, 77));
        let job = Job::in_image(&hoop.api, &token, image, &["base64"]);

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
        assert!(!log.contains("attempt"), "a refusal was retried:\n{log}");
        assert!(!job.state_dir().exists(), "{log}");
        assert_eq!(hoop.db.credential_count().await, 0);

        let second = job.shell(&script("after_script")).await;
        assert!(second.status.success(), "{}", log_of(&second));
        assert!(log_of(&second).contains("nothing to revoke"));
    }

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
async fn an_unreachable_hoop_is_named_after_bounded_attempts() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let mut job = Job::new(&url, "a.b.c", &[]);
    job.set("HOOP_ATTEMPTS", "2");
    let first = job.shell(&script("before_script")).await;
    let log = log_of(&first);
    assert_eq!(first.status.code(), Some(1), "{log}");
    assert_eq!(
        lines_starting(&log, "hoop: attempt "),
        ["hoop: attempt 2 of 2 after curl exit 7, cannot connect (in 1 s)"],
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "hoop: cannot reach hoop at {url} after 2 attempts (curl exit 7: Failed to connect to 127.0.0.1 port "
        )),
        "{log}"
    );
    assert_eq!(job.curl_command_lines().matches("/v1/exchange").count(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_failures_are_retried_with_the_same_token_and_refusals_are_not() {
    let hoop = Hoop::start(Options::default()).await;

    // A load balancer that answers 503 twice, then passes through: the third attempt, with the
    // same id token (hoop did not see the first two), gets the credential.
    let front = Front::start(&hoop.api, 2).await;
    let token = hoop.gitlab_token(2002);
    let job = Job::new(&front.url, &token, &[]);
    let (log, id) = job.exchange(&script("before_script")).await;
    let attempts = lines_starting(&log, "hoop: attempt ");
    assert_eq!(attempts.len(), 2, "{log}");
    assert!(
        attempts[0].starts_with("hoop: attempt 2 of 4 after HTTP 503 from a proxy, not from hoop")
            && attempts[1].starts_with("hoop: attempt 3 of 4 after HTTP 503"),
        "{log}"
    );
    assert_eq!(front.connections(), 3);
    assert_eq!(hoop.db.credential_count().await, 1);
    assert!(!log.contains(signature(&token)), "the token is in the log");
    let second = job.shell(&script("after_script")).await;
    assert!(second.status.success(), "{}", log_of(&second));
    assert_eq!(hoop.db.credential_state(&id).await, "revoked");

    // Never healthy: four attempts, then one line that says who answered.
    let front = Front::start(&hoop.api, usize::MAX).await;
    let job = Job::new(&front.url, &hoop.gitlab_token(2003), &[]);
    let first = job.shell(&script("before_script")).await;
    let log = log_of(&first);
    assert_eq!(first.status.code(), Some(1), "{log}");
    assert_eq!(lines_starting(&log, "hoop: attempt ").len(), 3, "{log}");
    assert!(log.contains("hoop: attempt 4 of 4 after HTTP 503"), "{log}");
    assert!(
        log.contains(
            "hoop: the exchange failed after 4 attempts: HTTP 503 from a proxy or load balancer in front of hoop, not from hoop"
        ),
        "{log}"
    );
    assert_eq!(front.connections(), 4);
    assert_eq!(hoop.db.credential_count().await, 1);

    // A refusal (4xx) is final: one request.
    let front = Front::start(&hoop.api, 0).await;
    let token = hoop
        .gitlab
        .mint(&hoop.gitlab.gitlab_claims(AUDIENCE, "evil/ledger", 9999, 77));
    let job = Job::new(&front.url, &token, &[]);
    let first = job.shell(&script("before_script")).await;
    let log = log_of(&first);
    assert_eq!(first.status.code(), Some(1), "{log}");
    assert!(log.contains("no_matching_trust_rule"), "{log}");
    assert!(!log.contains("attempt"), "{log}");
    assert_eq!(front.connections(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_exchange_and_the_revocation_go_through_the_proxy_the_standard_variables_name() {
    let hoop = Hoop::start(Options::default()).await;
    let proxy = ForwardProxy::start().await;
    let mut job = Job::new(&hoop.api, &hoop.gitlab_token(2002), &[]);
    // http_proxy for an http:// HOOP_URL, https_proxy for https://: curl reads them itself.
    job.set("http_proxy", &proxy.url);
    job.set("https_proxy", &proxy.url);
    let (_, id) = job.exchange(&script("before_script")).await;
    let second = job.shell(&script("after_script")).await;
    assert!(second.status.success(), "{}", log_of(&second));
    assert_eq!(hoop.db.credential_state(&id).await, "revoked");
    assert_eq!(
        proxy.requests(),
        [
            format!("POST {}/v1/exchange HTTP/1.1", hoop.api),
            format!("DELETE {}/v1/credentials/{id} HTTP/1.1", hoop.api),
        ]
    );
    assert!(
        !job.curl_command_lines().contains("proxy"),
        "the proxy was passed explicitly"
    );

    // no_proxy exempts hoop's host: a dead proxy is never used.
    let mut job = Job::new(&hoop.api, &hoop.gitlab_token(2003), &[]);
    job.set("http_proxy", &format!("http://127.0.0.1:{}", free_port()));
    job.set("no_proxy", "127.0.0.1");
    let first = job.shell(&script("before_script")).await;
    assert!(first.status.success(), "{}", log_of(&first));
    let second = job.shell(&script("after_script")).await;
    assert!(
        log_of(&second).contains("hoop: revoked credential"),
        "{}",
        log_of(&second)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn https_to_hoop_with_a_private_ca_and_through_a_connect_proxy() {
    let hoop = Hoop::start(Options::default()).await;
    // hoop behind a TLS-terminating load balancer whose certificate a private CA signed.
    let front = TlsFront::start(&hoop.api).await;
    let scratch = ScratchDir::new();
    let ca = scratch.write("hoop-ca.pem", &front.ca_pem);

    // Without the CA: curl cannot verify hoop; one line says what to set, and nothing is retried.
    let job = Job::new(&front.url, &hoop.gitlab_token(2002), &[]);
    let first = job.shell(&script("before_script")).await;
    let log = log_of(&first);
    assert_eq!(first.status.code(), Some(1), "{log}");
    assert!(
        log.contains(&format!(
            "hoop: TLS to hoop at {} failed (curl exit 60: SSL certificate problem: unable to get local issuer certificate): if hoop's certificate is signed by a private CA, set HOOP_CA_CERT (a File variable) to that CA's certificate",
            front.url
        )),
        "{log}"
    );
    assert!(!log.contains("attempt"), "{log}");

    // With it (a File variable), directly and through a proxy (CONNECT) named by https_proxy.
    let proxy = ForwardProxy::start().await;
    for (pipeline, through_proxy) in [(2003, false), (2004, true)] {
        let mut job = Job::new(&front.url, &hoop.gitlab_token(pipeline), &[]);
        job.set("HOOP_CA_CERT", ca.to_str().unwrap());
        if through_proxy {
            job.set("https_proxy", &proxy.url);
        }
        let (_, id) = job.exchange(&script("before_script")).await;
        let second = job.shell(&script("after_script")).await;
        assert!(second.status.success(), "{}", log_of(&second));
        assert_eq!(hoop.db.credential_state(&id).await, "revoked");
    }
    let authority = front.url.trim_start_matches("https://");
    let connect = format!("CONNECT {authority} HTTP/1.1");
    assert_eq!(proxy.requests(), [connect.clone(), connect]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_url_that_is_not_hoops_api_is_named_with_its_fix() {
    let hoop = Hoop::start(Options::default()).await;
    let token = hoop.gitlab_token(2002);

    // The base URL with /v1: caught before any request.
    for url in [
        format!("{}/v1", hoop.api),
        format!("{}/v1/exchange", hoop.api),
    ] {
        let job = Job::new(&url, &token, &[]);
        let first = job.shell(&script("before_script")).await;
        let log = log_of(&first);
        assert_eq!(first.status.code(), Some(1), "{log}");
        let suffix = url.strip_prefix(&hoop.api).unwrap();
        assert_eq!(
            log.trim_end(),
            format!(
                "hoop: HOOP_URL is hoop's base URL: drop {suffix} (HOOP_URL: {})",
                hoop.api
            )
        );
        assert!(
            !job.curl_command_lines().contains("exchange"),
            "a request was sent"
        );
    }

    // A plain HTTP server (another service, a proxy's default site).
    let other = NotHoop::start().await;
    let job = Job::new(&other.url, &token, &[]);
    let first = job.shell(&script("before_script")).await;
    let log = log_of(&first);
    assert_eq!(first.status.code(), Some(1), "{log}");
    assert!(
        log.contains(&format!(
            "hoop: HOOP_URL does not point at hoop's API: {}/v1/exchange answered HTTP 404 without hoop's x-hoop-api header; set HOOP_URL to the base URL of hoop's API",
            other.url
        )),
        "{log}"
    );
    assert!(!log.contains("attempt"), "{log}");

    // A redirect (http:// to https://, another host): curl does not follow it with the token.
    let redirect = NotHoop::redirecting_to("https://hoop.example/v1/exchange").await;
    let job = Job::new(&redirect.url, &token, &[]);
    let first = job.shell(&script("before_script")).await;
    let log = log_of(&first);
    assert_eq!(first.status.code(), Some(1), "{log}");
    assert!(
        log.contains(&format!(
            "hoop: HOOP_URL is redirected: {}/v1/exchange answered HTTP 301 to https://hoop.example/v1/exchange; set HOOP_URL to hoop's API base URL where it leads",
            redirect.url
        )),
        "{log}"
    );

    // The gateway's port, by http:// and by https://: it speaks PostgreSQL, not HTTP.
    for (scheme, image) in [
        ("http", Image::Debian),
        ("https", Image::Bash),
        ("http", Image::Busybox),
    ] {
        let url = format!("{scheme}://127.0.0.1:{}", hoop.gateway_port);
        let job = Job::in_image(&url, &token, image, &[]);
        let first = job.shell(&script("before_script")).await;
        let log = log_of(&first);
        assert_eq!(first.status.code(), Some(1), "{log}");
        assert!(
            log.contains(&format!(
                "hoop: HOOP_URL is the database gateway's address, not the API's: {url} answers in PostgreSQL's protocol; set HOOP_URL to hoop's API"
            )),
            "{scheme}: {log}"
        );
        assert!(!log.contains("attempt"), "{log}");
    }
    assert_eq!(hoop.db.credential_count().await, 0);
}

#[tokio::test]
async fn a_curl_without_fail_with_body_is_named_before_any_request() {
    let job = Job::new("http://127.0.0.1:9", "a.b.c", &[]);
    // curl 7.68 (Ubuntu 20.04's): --fail-with-body is an unknown option (usage error, exit 2).
    job.install_curl(
        r#"case "$1" in
  --version)
    echo 'curl 7.68.0 (x86_64-pc-linux-gnu) libcurl/7.68.0 OpenSSL/1.1.1f zlib/1.2.11'
    echo 'Release-Date: 2020-01-08'
    echo 'Protocols: dict file ftp ftps gopher http https telnet tftp'
    exit 0 ;;
esac
echo 'curl: option --fail-with-body: is unknown' >&2
exit 2
"#,
    );
    let first = job.shell(&script("before_script")).await;
    let log = log_of(&first);
    assert_eq!(first.status.code(), Some(1), "{log}");
    assert_eq!(
        log.trim_end(),
        "hoop: curl 7.68 is older than 7.76 (--fail-with-body): use an image with a newer curl"
    );
    assert_eq!(job.curl_command_lines().trim_end(), "--version");
}

#[tokio::test(flavor = "multi_thread")]
async fn hoop_ca_cert_is_a_file_variable_or_its_name() {
    let hoop = Hoop::start(Options::default()).await;
    let scratch = ScratchDir::new();
    let pem = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUJ7Qe\n-----END CERTIFICATE-----\n";
    let ca = scratch.write("ca file.pem", pem);
    let ca = ca.display().to_string();
    let encoded = ca.replace(' ', "%20");

    // The path (a File variable's value), or the name of the File variable.
    for (pipeline, value, extra) in [
        (2002, ca.clone(), None),
        (
            2003,
            "HOOP_PROD_CA".to_owned(),
            Some(("HOOP_PROD_CA", ca.clone())),
        ),
    ] {
        let mut job = Job::new(&hoop.api, &hoop.gitlab_token(pipeline), &[]);
        job.set("HOOP_CA_CERT", &value);
        if let Some((name, path)) = &extra {
            job.set(name, path);
        }
        let first = job
            .shell(&format!(
                "{}\nprintf '%s|%s|%s\\n' \"$PGSSLMODE\" \"$PGSSLROOTCERT\" \"$DATABASE_URL\" > ../tls",
                script("before_script")
            ))
            .await;
        assert!(first.status.success(), "{value}: {}", log_of(&first));
        let tls = job.read("tls");
        let [mode, root, url] = tls.split('|').collect::<Vec<_>>()[..] else {
            panic!("{tls}");
        };
        assert_eq!((mode, root), ("verify-full", ca.as_str()), "{value}");
        assert!(
            url.ends_with(&format!("?sslmode=verify-full&sslrootcert={encoded}")),
            "{url}"
        );
        assert!(log_of(&first).contains("sslmode verify-full with HOOP_CA_CERT"));
        assert!(job.shell(&script("after_script")).await.status.success());
    }

    // The certificate's text in a variable of type Variable, a file without a certificate, a
    // name of nothing: each refused before the exchange, with what to do.
    let empty = scratch.write("empty.pem", "not a certificate\n");
    for (value, message) in [
        (pem.to_owned(), "hoop: HOOP_CA_CERT holds the certificate text: make it a CI/CD variable of type File".to_owned()),
        (
            empty.display().to_string(),
            format!("hoop: HOOP_CA_CERT ({}) holds no PEM certificate", empty.display()),
        ),
        (
            "HOOP_NO_SUCH_CA".to_owned(),
            "hoop: HOOP_CA_CERT names HOOP_NO_SUCH_CA, which is neither a file nor a variable of this job".to_owned(),
        ),
    ] {
        let mut job = Job::new(&hoop.api, &hoop.gitlab_token(2004), &[]);
        job.set("HOOP_CA_CERT", &value);
        let first = job.shell(&script("before_script")).await;
        let log = log_of(&first);
        assert_eq!(first.status.code(), Some(1), "{log}");
        assert!(log.starts_with(&message), "{log}");
        assert_eq!(log.lines().count(), 1, "{log}");
        assert!(!job.curl_command_lines().contains("exchange"));
    }
    assert_eq!(hoop.db.credential_count().await, 2);
}

#[tokio::test]
async fn after_script_without_a_credential_sends_nothing() {
    // Before any exchange (before_script failed early): nothing to revoke, no request.
    let job = Job::new("http://127.0.0.1:9", "a.b.c", &[]);
    let out = job.shell(&script("after_script")).await;
    assert!(out.status.success(), "{}", log_of(&out));
    assert_eq!(
        log_of(&out).trim_end(),
        "hoop: no credential was issued in this job; nothing to revoke"
    );
    assert_eq!(job.curl_command_lines(), "");

    // A file that is not a credential id (not this job's): ignored, and no request either.
    std::fs::create_dir_all(job.state_dir()).unwrap();
    std::fs::set_permissions(job.state_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(job.state_dir().join("complete"), "").unwrap();
    std::fs::write(job.state_dir().join("credential-id"), "../../admin?x=1\n").unwrap();
    let out = job.shell(&script("after_script")).await;
    assert!(out.status.success(), "{}", log_of(&out));
    assert!(
        log_of(&out).contains("nothing to revoke"),
        "{}",
        log_of(&out)
    );
    assert_eq!(job.curl_command_lines(), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn hoop_state_dir_chooses_where_the_state_directory_is_created_and_is_kept() {
    let hoop = Hoop::start(Options::default()).await;
    let mut job = Job::new(&hoop.api, &hoop.gitlab_token(2002), &[]);
    let chosen = job.dir.0.join("builds");
    std::fs::create_dir_all(&chosen).unwrap();
    std::fs::write(chosen.join("keep"), "someone else's file\n").unwrap();
    job.set("HOOP_STATE_DIR", &format!("{}/", chosen.display()));
    let first = job.shell(&script("before_script")).await;
    assert!(first.status.success(), "{}", log_of(&first));
    assert_eq!(entries(&chosen), ["hoop-job-20021", "keep"]);
    assert_eq!(mode(&chosen.join("hoop-job-20021")), 0o700);
    assert!(!job.state_dir().exists(), "TMPDIR was used");
    let second = job.shell(&script("after_script")).await;
    assert!(
        log_of(&second).contains("hoop: revoked credential"),
        "{}",
        log_of(&second)
    );
    // Only the job's own directory is removed.
    assert_eq!(entries(&chosen), ["keep"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn after_script_revokes_with_the_revoke_token_after_the_id_token_expired() {
    let hoop = Hoop::start(Options::default()).await;
    // An id token hoop accepts for a few more seconds (its exp is 55 s past, within the issuer's
    // 60 s leeway): the job outlives it, as a job that runs into its timeout does.
    let now = chrono::Utc::now().timestamp();
    let exp = now - 55;
    let mut claims = hoop
        .gitlab
        .gitlab_claims(AUDIENCE, GITLAB_PROJECT, GITLAB_PROJECT_ID, 2002);
    claims["iat"] = serde_json::json!(now - 120);
    claims["nbf"] = serde_json::json!(now - 120);
    claims["exp"] = serde_json::json!(exp);
    let token = hoop.gitlab.mint(&claims);
    let job = Job::new(&hoop.api, &token, &[]);
    let (first_log, id) = job.exchange(&script("before_script")).await;
    let revoke_token = std::fs::read_to_string(job.state_dir().join("revoke-token"))
        .unwrap()
        .trim()
        .to_owned();

    // Past exp and the leeway: hoop refuses the id token now (a refusal for expiry consumes
    // nothing).
    let dead_at = exp + 60 + 1;
    let wait = dead_at - chrono::Utc::now().timestamp();
    if wait > 0 {
        tokio::time::sleep(std::time::Duration::from_secs(wait as u64)).await;
    }
    let refused = hoop.exchange(&token).await;
    assert_eq!(refused.error_code(), "token_expired", "{:?}", refused.body);
    assert_eq!(hoop.db.credential_state(&id).await, "active");

    let second = job.shell(&script("after_script")).await;
    let second_log = log_of(&second);
    assert!(second.status.success(), "{second_log}");
    assert!(
        second_log.contains(&format!("hoop: revoked credential {id}")),
        "{second_log}"
    );
    assert_eq!(hoop.db.credential_state(&id).await, "revoked");
    let command_lines = job.curl_command_lines();
    for text in [&first_log, &second_log, &command_lines] {
        assert!(
            !text.contains(&revoke_token),
            "the revoke token leaked:\n{text}"
        );
        assert!(!text.contains(signature(&token)), "the id token leaked");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_names_the_claims_hoop_did_not_accept_with_this_jobs_values() {
    let hoop = Hoop::start(Options::default()).await;
    for image in images() {
        // The right project, on a branch the rule does not name.
        let mut claims =
            hoop.gitlab
                .gitlab_claims(AUDIENCE, GITLAB_PROJECT, GITLAB_PROJECT_ID, 2002);
        claims["ref"] = serde_json::json!("feature/x");
        claims["ref_path"] = serde_json::json!("refs/heads/feature/x");
        claims["ref_protected"] = serde_json::json!("false");
        let token = hoop.gitlab.mint(&claims);
        let job = Job::in_image(&hoop.api, &token, image, &["base64"]);
        let first = job.shell(&script("before_script")).await;
        let log = log_of(&first);
        assert_eq!(first.status.code(), Some(1), "{image:?}: {log}");
        let refused = lines_starting(
            &log,
            "hoop: the exchange was refused: no_matching_trust_rule: ",
        );
        assert_eq!(refused.len(), 1, "{log}");
        assert!(
            refused[0].contains("feature/x"),
            "hoop's message names the value: {log}"
        );
        assert!(
            log.contains(
                "hoop: the claims hoop's nearest trust rule did not accept, as this job's id token has them:\n  ref: feature/x\nhoop: the claims of the id token"
            ),
            "{image:?}: {log}"
        );
        assert!(!log.contains(signature(&token)), "the token is in the log");

        // A merge request pipeline: advice that fits.
        let mut claims =
            hoop.gitlab
                .gitlab_claims(AUDIENCE, GITLAB_PROJECT, GITLAB_PROJECT_ID, 2002);
        claims["pipeline_source"] = serde_json::json!("merge_request_event");
        let token = hoop.gitlab.mint(&claims);
        let job = Job::in_image(&hoop.api, &token, image, &["base64"]);
        let first = job.shell(&script("before_script")).await;
        let log = log_of(&first);
        assert_eq!(first.status.code(), Some(1), "{log}");
        assert!(
            log.contains("hoop: the exchange was refused: pull_request_not_allowed: "),
            "{log}"
        );
        assert!(
            log.contains("\n  pipeline_source: merge_request_event\n"),
            "{log}"
        );
        assert!(
            log.contains("hoop: hoop refuses merge request pipelines (and other sources it cannot vouch for) unless a trust rule allows them: run this job in branch or tag pipelines"),
            "{log}"
        );
        assert!(
            !log.contains("ask hoop's operators for a rule that matches them"),
            "{log}"
        );
    }
    assert_eq!(hoop.db.credential_count().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn hoops_own_answers_name_a_wrong_path_and_a_missing_role_without_retrying() {
    const MISSING: &str = "ci_gitlab_e2e_missing";
    const PROJECT_ID: u64 = 2552;
    let extra = format!(
        r#"[[trust]]
name = "ledger-migrations"
issuer = "gitlab"
claims = {{ project_id = {PROJECT_ID}, ref = "main" }}
connections = ["{CONNECTION}"]
role = "{MISSING}"
"#
    );
    let hoop = Hoop::start(Options::with_extra(extra)).await;
    hoop.db
        .client()
        .await
        .batch_execute(&format!("DROP ROLE IF EXISTS {MISSING}"))
        .await
        .unwrap();

    // hoop behind a path it does not serve: hoop's 404, with its header.
    let url = format!("{}/hoop", hoop.api);
    let job = Job::new(&url, &hoop.gitlab_token(2002), &[]);
    let first = job.shell(&script("before_script")).await;
    let log = log_of(&first);
    assert_eq!(first.status.code(), Some(1), "{log}");
    assert_eq!(
        log.trim_end(),
        format!(
            "hoop: HOOP_URL reaches hoop, but {url}/v1/exchange is not one of its paths: set HOOP_URL to hoop's base URL, without a path (it is {url}/)"
        )
    );

    // A 503 that is hoop's own refusal (an operator must create the role): one request.
    let front = Front::start(&hoop.api, 0).await;
    let token = hoop.gitlab.mint(&hoop.gitlab.gitlab_claims(
        AUDIENCE,
        "acme/ledger-migrations",
        PROJECT_ID,
        2552,
    ));
    let job = Job::new(&front.url, &token, &[]);
    let first = job.shell(&script("before_script")).await;
    let log = log_of(&first);
    assert_eq!(first.status.code(), Some(1), "{log}");
    assert!(
        log.contains("hoop: the exchange failed: upstream_role_missing: ") && log.contains(MISSING),
        "{log}"
    );
    assert!(log.contains("hoop's operators must create it"), "{log}");
    assert!(!log.contains("attempt"), "{log}");
    assert_eq!(front.connections(), 1);
}

/// A file of the job's user that a write through a planted symbolic link would overwrite.
const PRECIOUS: &str = "the CI user's own file\n";

/// Plants, where the job's state directory goes, what another local user could: the directory
/// itself (mode 1777), a credential id of theirs, a revoke token with a header on a second line,
/// the marker of a completed before_script, and symbolic links named like the files the scripts
/// write, to a file of the job's user.
fn plant_state_dir(job: &Job, dir: &Path) -> PathBuf {
    let victim = job.dir.0.join("victim");
    std::fs::write(&victim, PRECIOUS).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("credential-id"),
        "0b0e7b0c-8a57-4c43-9d2a-4a3c5f6e7d81\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("revoke-token"),
        "hoop-revoke.abc\nX-Injected: yes\n",
    )
    .unwrap();
    std::fs::write(dir.join("complete"), "").unwrap();
    for name in ["headers", "curl-error", "ca.pem"] {
        std::os::unix::fs::symlink(&victim, dir.join(name)).unwrap();
    }
    victim
}

#[tokio::test(flavor = "multi_thread")]
async fn a_state_directory_someone_else_created_is_neither_trusted_nor_written_through() {
    for image in images() {
        let hoop = FakeHoop::answering(&exchange_answer(&[])).await;
        let mut job = Job::in_image(&hoop.url, "a.b.c", image, &[]);
        job.set("HOOP_ID_TOKEN", "a.b.c");
        let state = job.state_dir();
        let victim = plant_state_dir(&job, &state);
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o1777)).unwrap();

        // before_script does not reuse it: one line, and no request.
        let first = job.shell(&script("before_script")).await;
        let first_log = log_of(&first);
        assert!(!first.status.success(), "{image:?}: {first_log}");
        let lines = lines_starting(&first_log, "hoop: ");
        assert_eq!(lines.len(), 1, "{image:?}: {first_log}");
        assert!(
            lines[0].contains("exists already, and this job did not create it"),
            "{image:?}: {first_log}"
        );

        // after_script reads nothing from it, sends nothing, writes through no link, and says
        // why in one line; the job does not fail for it.
        let second = job.shell(&script("after_script")).await;
        let second_log = log_of(&second);
        assert!(second.status.success(), "{image:?}: {second_log}");
        assert_eq!(
            second_log.trim_end(),
            format!(
                "hoop: WARNING: {} is not this job's state directory (not mode 0700): nothing revoked from it, nothing removed",
                state.display()
            ),
            "{image:?}"
        );
        assert_eq!(hoop.requests(), Vec::<String>::new(), "{image:?}");
        // (curl --version only, before anything else.)
        assert!(!job.curl_command_lines().contains("http"), "{image:?}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), PRECIOUS);
        assert!(
            state.join("credential-id").exists(),
            "someone else's files were removed"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_state_directory_of_another_user_or_a_symbolic_link_is_refused() {
    let hoop = FakeHoop::answering(&exchange_answer(&[])).await;
    let job = Job::new(&hoop.url, "a.b.c", &[]);
    let state = job.state_dir();

    // A symbolic link to a directory that looks like a completed job's.
    let elsewhere = job.dir.0.join("elsewhere");
    let victim = plant_state_dir(&job, &elsewhere);
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(elsewhere.join("revoke-token"), "hoop-revoke.abc\n").unwrap();
    std::os::unix::fs::symlink(&elsewhere, &state).unwrap();
    let out = job.shell(&script("after_script")).await;
    let log = log_of(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains(
            "is not this job's state directory (a symbolic link): nothing revoked from it"
        ),
        "{log}"
    );
    let first = job.shell(&script("before_script")).await;
    assert!(!first.status.success());
    assert!(
        log_of(&first).contains("exists already, and this job did not create it"),
        "{}",
        log_of(&first)
    );
    assert_eq!(hoop.requests(), Vec::<String>::new());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), PRECIOUS);
    assert!(elsewhere.join("credential-id").exists());
    std::fs::remove_file(&state).unwrap();

    // Mode 0700, complete, but another user's (when the tests may give files away).
    let mut foreign = false;
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(
        state.join("credential-id"),
        "0b0e7b0c-8a57-4c43-9d2a-4a3c5f6e7d81\n",
    )
    .unwrap();
    std::fs::write(state.join("revoke-token"), "hoop-revoke.abc\n").unwrap();
    std::fs::write(state.join("complete"), "").unwrap();
    if std::os::unix::fs::chown(&state, Some(65534), Some(65534)).is_ok() {
        foreign = true;
        let out = job.shell(&script("after_script")).await;
        let log = log_of(&out);
        assert!(out.status.success(), "{log}");
        assert!(
            log.contains("is not this job's state directory (owned by another user)"),
            "{log}"
        );
        assert_eq!(hoop.requests(), Vec::<String>::new());
        std::os::unix::fs::chown(&state, Some(0), Some(0)).unwrap();
    }
    // The same directory, this user's: the credential is revoked, with the file's token.
    let out = job.shell(&script("after_script")).await;
    assert!(
        log_of(&out).contains("hoop: revoked credential 0b0e7b0c-8a57-4c43-9d2a-4a3c5f6e7d81"),
        "{} (foreign case run: {foreign})",
        log_of(&out)
    );
    assert_eq!(
        hoop.requests(),
        ["DELETE /v1/credentials/0b0e7b0c-8a57-4c43-9d2a-4a3c5f6e7d81 HTTP/1.1"]
    );
    assert!(!state.exists());

    // A revoke token that is not one hoop issues (a header on a second line): not sent.
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(
        state.join("credential-id"),
        "0b0e7b0c-8a57-4c43-9d2a-4a3c5f6e7d81\n",
    )
    .unwrap();
    std::fs::write(
        state.join("revoke-token"),
        "hoop-revoke.abc\nX-Injected: yes\n",
    )
    .unwrap();
    std::fs::write(state.join("complete"), "").unwrap();
    let out = job.shell(&script("after_script")).await;
    let log = log_of(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("revoke-token is not a revoke token hoop issues"),
        "{log}"
    );
    assert_eq!(hoop.requests().len(), 1, "a request was sent");

    // before_script did not complete (no marker): nothing revoked, the directory removed.
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(
        state.join("credential-id"),
        "0b0e7b0c-8a57-4c43-9d2a-4a3c5f6e7d81\n",
    )
    .unwrap();
    let out = job.shell(&script("after_script")).await;
    let log = log_of(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("hoop: before_script did not complete"),
        "{log}"
    );
    assert_eq!(hoop.requests().len(), 1, "a request was sent");
    assert!(!state.exists());
}

/// An exchange answer of hoop's shape, with `changes` (key, JSON value) replacing its fields.
fn exchange_answer(changes: &[(&str, &str)]) -> String {
    let mut fields = vec![
        ("credential_id", "\"0b0e7b0c-8a57-4c43-9d2a-4a3c5f6e7d81\""),
        ("username", "\"run-2002-1-abcdef\""),
        ("password", "\"pw_abc-123\""),
        ("host", "\"127.0.0.1\""),
        ("port", "5432"),
        ("database", "\"payments\""),
        ("sslmode", "\"require\""),
        (
            "database_url",
            "\"postgres://run-2002-1-abcdef:pw_abc-123@127.0.0.1:5432/payments?sslmode=require\"",
        ),
        ("expires_at", "\"2026-12-06T05:00:00Z\""),
        ("revoke_token", "\"hoop-revoke.AbC_d-1\""),
        ("max_sessions", "2"),
        ("trust_rule", "\"payments-gitlab\""),
    ];
    for (key, value) in changes {
        match fields.iter_mut().find(|(k, _)| k == key) {
            Some(field) => field.1 = value,
            None => fields.push((key, value)),
        }
    }
    let body = fields
        .iter()
        .map(|(k, v)| format!("\"{k}\":{v}"))
        .collect::<Vec<_>>()
        .join(",");
    format!("{{{body}}}")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_exchange_answer_fails_the_job_exports_nothing_and_is_revoked() {
    const ID: &str = "0b0e7b0c-8a57-4c43-9d2a-4a3c5f6e7d81";
    // (field, JSON value, what the one line names, whether the credential is revoked)
    let cases: &[(&str, &str, &str, bool)] = &[
        (
            "credential_id",
            "\"../../x$(touch ../pwned)\"",
            "its credential_id is not a lowercase UUID",
            false,
        ),
        (
            "port",
            "\"5432;touch ../pwned\"",
            "its port is not a number",
            true,
        ),
        ("port", "70000", "its port is not a number", true),
        ("host", "\"db\\rexample\"", "PGHOST", true),
        ("host", "\"db;touch\"", "its host is neither", true),
        (
            "revoke_token",
            "\"hoop-revoke.abc\\nX-Evil: 1\"",
            "its revoke_token",
            true,
        ),
        ("username", "\"Admin\"", "its username", true),
        ("database", "\"pay ments\"", "its database name", true),
        ("sslmode", "\"none\"", "its sslmode", true),
        ("password", "\"pw\\u001b[31m\"", "PGPASSWORD", true),
    ];
    for image in images() {
        // The fake answers as hoop: the well-formed answer is used, and revoked after.
        let hoop =
            FakeHoop::answering(&exchange_answer(&[("trust_rule", "\"r\\\\cut\\\\033\"")])).await;
        let job = Job::in_image(&hoop.url, "a.b.c", image, &[]);
        let ok = job
            .shell(&format!(
                "{}\nprintf '%s\\n' \"$PGHOST\" > ../env-out",
                script("before_script")
            ))
            .await;
        let ok_log = log_of(&ok);
        assert!(ok.status.success(), "{image:?}: {ok_log}");
        if image == Image::DebianJq {
            // A backslash reaches the log as it is (echo would cut the line at \c).
            assert!(
                ok_log.contains(", trust rule r\\cut\\033), expires at"),
                "{ok_log}"
            );
        }
        let after = job.shell(&script("after_script")).await;
        assert!(
            log_of(&after).contains(&format!("hoop: revoked credential {ID}")),
            "{}",
            log_of(&after)
        );

        for (field, value, named, revoked) in cases {
            let hoop = FakeHoop::answering(&exchange_answer(&[(field, value)])).await;
            let job = Job::in_image(&hoop.url, "a.b.c", image, &[]);
            let out = job
                .shell(&format!(
                    "{}\nprintf '%s\\n' \"$PGHOST\" > ../env-out",
                    script("before_script")
                ))
                .await;
            let log = log_of(&out);
            let what = format!("{image:?} {field}={value}");
            assert!(!out.status.success(), "{what}: {log}");
            let lines = log.lines().collect::<Vec<_>>();
            assert_eq!(lines.len(), 1, "{what}: {log}");
            assert!(
                lines[0].starts_with("hoop: hoop's answer is not usable: "),
                "{what}: {log}"
            );
            assert!(
                !log.contains('\r') && !log.contains('\u{1b}'),
                "{what}: {log:?}"
            );
            // Without jq, a value with a JSON escape is not read: the answer lacks it.
            let readable = image == Image::DebianJq || !value.contains('\\');
            if readable {
                assert!(lines[0].contains(named), "{what}: {log}");
            }
            assert!(
                !job.dir.0.join("env-out").exists(),
                "{what}: the job's script ran"
            );
            assert!(!job.dir.0.join("pwned").exists(), "{what}");
            assert!(
                !job.state_dir().exists(),
                "{what}: the state directory is left"
            );
            let deletes = hoop
                .requests()
                .into_iter()
                .filter(|r| r.starts_with("DELETE "))
                .collect::<Vec<_>>();
            if *revoked {
                assert!(
                    lines[0].contains(&format!("credential {ID} revoked")),
                    "{what}: {log}"
                );
                assert_eq!(
                    deletes,
                    [format!("DELETE /v1/credentials/{ID} HTTP/1.1")],
                    "{what}"
                );
            } else {
                assert_eq!(deletes, Vec::<String>::new(), "{what}");
            }
            // after_script finds nothing to revoke.
            let after = job.shell(&script("after_script")).await;
            assert!(
                log_of(&after).contains("nothing to revoke"),
                "{what}: {}",
                log_of(&after)
            );
            assert_eq!(hoop.requests().len(), 1 + usize::from(*revoked), "{what}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hoop_url_with_a_password_or_backslashes_is_refused_as_it_is_written() {
    let mut job = Job::new("http://127.0.0.1:9", "a.b.c", &[]);
    for url in [
        "https://ci:s3cr3t-pw@hoop.internal/",
        "https://s3cr3t-pw@hoop.internal",
        "http://ci:s3cr3t-pw@hoop.internal:8443/?x=1",
    ] {
        job.set("HOOP_URL", url);
        let out = job.shell(&script("before_script")).await;
        let log = log_of(&out);
        assert!(!out.status.success(), "{url}: {log}");
        assert_eq!(log.lines().count(), 1, "{url}: {log}");
        assert!(
            log.starts_with("hoop: HOOP_URL must not hold a user name or password"),
            "{url}: {log}"
        );
        assert!(
            !log.contains("s3cr3t-pw"),
            "{url}: the password was printed: {log}"
        );
    }
    job.set("HOOP_URL", "ftp://hoop\\cut\\033[31m");
    let out = job.shell(&script("before_script")).await;
    let log = log_of(&out);
    assert!(!out.status.success(), "{log}");
    assert!(log.contains("it is \"ftp://hoop\\cut\\033[31m\""), "{log}");
    assert_eq!(job.curl_command_lines(), "");
}
