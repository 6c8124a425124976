//! The command line: `hoop config check`, `hoop migrate`, and `hoop serve` refusing to start.

use std::process::ExitStatus;

use crate::support::*;

/// A configuration file and its secret key in a scratch directory.
struct Setup {
    dir: ScratchDir,
    config: String,
}

impl Setup {
    /// `database` is both state and upstream; the issuers are never contacted.
    fn new(database: &str, reader: &str, secret_key: &str) -> Setup {
        let dir = ScratchDir::new();
        let file = ConfigFile {
            replica: "e2e",
            api_port: free_port(),
            gateway_port: free_port(),
            spool_dir: dir.0.join("spool"),
            github_url: "http://127.0.0.1:9".into(),
            gitlab_url: "http://127.0.0.1:10".into(),
            database: database.into(),
            reader: reader.into(),
            secret_key_path: dir.write("secret_key", secret_key),
            reaper_interval: "1h",
            role_provisioning: "exchange",
            durability: "statement",
        };
        let config = file.render();
        Setup { dir, config }
    }

    fn for_db(db: &TestDb) -> Setup {
        Setup::new(&db.name, &db.reader, &random_secret_key())
    }

    /// Runs `hoop <command> --config <file with text>`; returns its status and output.
    async fn run(
        &self,
        command: &[&str],
        text: &str,
        env: &[(&str, &str)],
    ) -> (ExitStatus, String) {
        let path = self.dir.write("hoop.toml", text);
        let path = path.display().to_string();
        let mut args = command.to_vec();
        args.extend(["--config", &path]);
        let log = self.dir.0.join("output.log");
        let _ = std::fs::remove_file(&log);
        let what = format!("hoop {}", command.join(" "));
        run_to_exit(hoop_command(&args, env, &log), &log, &what).await
    }

    /// `hoop config check` must fail, naming the file and every one of `needles`.
    async fn assert_check_refused(
        &self,
        case: &str,
        text: &str,
        env: &[(&str, &str)],
        needles: &[&str],
    ) {
        let (status, output) = self.run(&["config", "check"], text, env).await;
        assert!(!status.success(), "{case}: accepted: {output}");
        assert!(
            output.contains("hoop.toml"),
            "{case}: the file is not named: {output}"
        );
        for needle in needles {
            assert!(
                output.contains(needle),
                "{case}: {needle:?} not named: {output}"
            );
        }
    }
}

/// Both URL variables set to `url`.
fn secrets(url: &str) -> [(&'static str, &str); 2] {
    [(STATE_URL_VAR, url), (ADMIN_URL_VAR, url)]
}

#[tokio::test]
async fn config_check_accepts_a_good_file_and_names_the_key_of_a_bad_one() {
    let setup = Setup::new("payments_db", "ci_reader", &random_secret_key());
    let good = setup.config.clone();
    let env = secrets("postgres://postgres@127.0.0.1:5432/payments_db");
    let (status, output) = setup.run(&["config", "check"], &good, &env).await;
    assert!(status.success(), "a good file is refused: {output}");
    assert!(output.contains(": ok ("), "{output}");

    let unknown_key = good.replace("replica = \"e2e\"", "replica = \"e2e\"\ncolour = \"blue\"");
    setup
        .assert_check_refused("unknown key", &unknown_key, &env, &["colour", "line"])
        .await;
    let dangling = good.replacen(
        "connections = [\"payments\"]",
        "connections = [\"ledger\"]",
        1,
    );
    setup
        .assert_check_refused(
            "dangling connection",
            &dangling,
            &env,
            &["trust[0].connections[0]", "ledger"],
        )
        .await;
    let hmac = good.replace(
        "jwks_min_refresh_interval = \"1s\"",
        "jwks_min_refresh_interval = \"1s\"\nalgorithms = [\"HS256\"]",
    );
    setup
        .assert_check_refused("HMAC algorithm", &hmac, &env, &["algorithms", "HS256"])
        .await;
    let plain_http = good.replace("http://127.0.0.1:9", "http://issuer.example");
    setup
        .assert_check_refused(
            "plain http issuer off loopback",
            &plain_http,
            &env,
            &["issuers[0].url", "https"],
        )
        .await;
    setup
        .assert_check_refused("unset env secret", &good, &[], &[STATE_URL_VAR])
        .await;
}

/// The 1-based line of `text` that holds `needle` (once).
fn line_with(text: &str, needle: &str) -> usize {
    line_where(text, needle, |l| l.contains(needle))
}

fn line_where(text: &str, needle: &str, is: impl Fn(&str) -> bool) -> usize {
    let lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| is(l))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(lines.len(), 1, "{needle:?} is not on exactly one line");
    lines[0]
}

/// `hoop config check` lints a file that loads: each finding printed with its file, line and
/// key, sorted by line, with its fix; an error finding fails the check, warnings only with
/// `--deny-warnings`.
#[tokio::test]
async fn config_check_prints_findings_by_line_and_fails_on_errors() {
    let setup = Setup::new("payments_db", "ci_reader", &random_secret_key());
    let env = secrets("postgres://postgres@127.0.0.1:5432/payments_db");
    let warnings = format!(
        r#"{base}
[[trust]]
name = "by-team"
issuer = "github"
claims = {{ repository_id = {REPOSITORY_ID}, team = "payments" }}
connections = ["{CONNECTION}"]

[[trust]]
name = "main-again"
issuer = "github"
claims = {{ ref = "refs/heads/main", repository_id = "{REPOSITORY_ID}" }}
connections = ["{CONNECTION}"]
"#,
        base = setup.config
    );
    let errors = format!(
        r#"{warnings}
[[trust]]
name = "gitlab-full-ref"
issuer = "gitlab"
connections = ["{CONNECTION}"]
[trust.claims]
project_id = {GITLAB_PROJECT_ID}
ref = "refs/heads/main"

[[trust]]
name = "typo"
issuer = "github"
claims = {{ repository_id = {REPOSITORY_ID},
  enviroment = "production" }}
connections = ["{CONNECTION}"]
"#
    );
    let file = setup.dir.0.join("hoop.toml").display().to_string();
    let github_claims: Vec<&str> = hoop::identity::schema::claims(hoop::identity::Provider::Github)
        .iter()
        .map(|c| c.name)
        .collect();
    let github_claims = github_claims.join(", ");
    let warning_lines = |text: &str| {
        vec![
            format!(
                "{file}:{}: warning: trust[3].claims.team: GitHub documents no claim \"team\": a \
                 token without it never matches this rule",
                line_with(text, "team = ")
            ),
            format!(
                "  fix: keep it only if your tokens carry it; repository custom properties an \
                 organization adds to its tokens are named repo_property_<property>. GitHub \
                 claims: {github_claims}"
            ),
            format!(
                "{file}:{}: warning: trust[4]: trust rule \"main-again\" never decides: trust[0] \
                 (\"{MAIN_RULE}\") comes first with the same issuer and claims and grants every \
                 connection it does",
                line_with(text, "\"main-again\"") - 1
            ),
            "  fix: remove it, or narrow its claims and move it before trust[0] if it is meant to \
             win"
            .to_owned(),
        ]
    };
    // From the first finding (`FILE:LINE: ...`) on.
    let findings = |output: &str| -> Vec<String> {
        let prefix = format!("{file}:");
        output
            .lines()
            .skip_while(|l| {
                !l.strip_prefix(&prefix)
                    .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
            })
            .map(str::to_owned)
            .collect()
    };

    let (status, output) = setup.run(&["config", "check"], &errors, &env).await;
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(output.contains(": ok ("), "the usual checks ran: {output}");
    let mut expected = warning_lines(&errors);
    expected.extend([
        format!(
            "{file}:{}: error: trust[5].claims.ref: GitLab's ref is the bare branch or tag name \
             (main), so \"refs/heads/main\" never matches; the full ref is ref_path",
            line_where(&errors, "ref", |l| l == "ref = \"refs/heads/main\"")
        ),
        "  fix: write ref = \"main\" with ref_type = \"branch\", or match ref_path instead".into(),
        format!(
            "{file}:{}: error: trust[6].claims.enviroment: GitHub tokens carry no claim \
             \"enviroment\", so this rule never matches",
            line_with(&errors, "enviroment = ")
        ),
        format!("  fix: did you mean \"environment\"? GitHub claims: {github_claims}"),
        format!("{file}: 2 errors, 2 warnings"),
    ]);
    assert_eq!(findings(&output), expected, "{output}");

    let (status, output) = setup.run(&["config", "check"], &warnings, &env).await;
    assert_eq!(status.code(), Some(0), "{output}");
    let mut expected = warning_lines(&warnings);
    expected.push(format!("{file}: 0 errors, 2 warnings"));
    assert_eq!(findings(&output), expected, "{output}");

    let deny = ["config", "check", "--deny-warnings"];
    let (status, output) = setup.run(&deny, &warnings, &env).await;
    assert_eq!(status.code(), Some(1), "{output}");
    let (status, output) = setup.run(&deny, &setup.config, &env).await;
    assert_eq!(status.code(), Some(0), "a clean file passes: {output}");
    assert!(!output.contains("warning"), "{output}");
}

#[tokio::test]
async fn migrate_applies_once_then_reports_up_to_date() {
    let db = TestDb::create().await;
    let setup = Setup::for_db(&db);
    let url = db.url();
    let (status, output) = setup.run(&["migrate"], &setup.config, &secrets(&url)).await;
    assert!(status.success(), "{output}");
    let every: Vec<i32> = (1..=hoop::state::latest_schema_version()).collect();
    assert!(
        output.contains(&format!("applied migrations {every:?}")),
        "{output}"
    );
    let (status, output) = setup.run(&["migrate"], &setup.config, &secrets(&url)).await;
    assert!(status.success(), "{output}");
    assert!(output.contains("up to date"), "{output}");
    assert_eq!(db.credential_count().await, 0, "the schema is in place");
}

#[tokio::test]
async fn a_state_database_of_a_newer_hoop_is_refused() {
    let db = TestDb::create().await;
    db.client()
        .await
        .batch_execute(
            "CREATE TABLE hoop_schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
                 checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
             INSERT INTO hoop_schema_migrations (version, name, checksum)
                 VALUES (999, 'from the future', 'x');",
        )
        .await
        .unwrap();
    let setup = Setup::for_db(&db);
    let url = db.url();
    for command in [&["migrate"][..], &["serve"]] {
        let (status, output) = setup.run(command, &setup.config, &secrets(&url)).await;
        assert!(
            !status.success(),
            "{command:?} accepted the database: {output}"
        );
        assert!(output.contains("newer"), "{command:?}: {output}");
        assert!(output.contains("999"), "{command:?}: {output}");
    }
}

#[tokio::test]
async fn serve_names_an_unset_secret_and_prints_none() {
    let db = TestDb::create().await;
    let key = random_secret_key();
    let setup = Setup::new(&db.name, &db.reader, &key);
    let url = db.url();
    for (set, unset) in [
        (STATE_URL_VAR, ADMIN_URL_VAR),
        (ADMIN_URL_VAR, STATE_URL_VAR),
    ] {
        let (status, output) = setup.run(&["serve"], &setup.config, &[(set, &url)]).await;
        assert!(!status.success(), "started without {unset}: {output}");
        assert!(output.contains(unset), "{unset} not named: {output}");
        assert!(
            !output.contains(&db.url_password),
            "a URL password is printed: {output}"
        );
        assert!(
            !output.contains(&key),
            "the secret key is printed: {output}"
        );
    }
}

#[tokio::test]
async fn serve_refuses_a_short_secret_key() {
    let db = TestDb::create().await;
    let key = "only-31-bytes-of-secret-key-abc";
    assert_eq!(key.len(), 31);
    let setup = Setup::new(&db.name, &db.reader, key);
    let (status, output) = setup
        .run(&["serve"], &setup.config, &secrets(&db.url()))
        .await;
    assert!(!status.success(), "started with a short key: {output}");
    assert!(
        output.contains("server.secret_key") && output.contains("32"),
        "{output}"
    );
    assert!(!output.contains(key), "the secret key is printed: {output}");
}

/// The README's first command: the demo runs end to end on the local Postgres, shows card
/// numbers masked, and prints no full card number, even with debug logs on.
#[tokio::test]
async fn the_demo_runs_end_to_end_and_never_prints_a_card_number() {
    let dir = ScratchDir::new();
    let log = dir.0.join("demo.log");
    let (status, output) = run_to_exit(hoop_command(&["demo"], &[], &log), &log, "hoop demo").await;
    assert!(status.success(), "{output}");
    assert!(output.contains("411111******1111 | ****"), "{output}");
    // The session is archived, digested and verified against the pinned key.
    assert!(output.contains(": 1 archive(s), "), "{output}");
    assert!(output.contains(" digest(s), 0 problem(s)"), "{output}");
    assert!(output.contains("approval       approved"), "{output}");
    assert!(
        output.contains("DROP TABLE cards -> refused by hoop: hoop policy denied this statement"),
        "{output}"
    );
    for pan in [
        "4111111111111111",
        "5555 5555 5555 4444",
        "5555555555554444",
    ] {
        assert!(!output.contains(pan), "the demo printed {pan}: {output}");
    }
}
