//! Loading and validating configuration files.

use super::*;

const BASE: &str = r#"
    [server]
    state_database_url = { env = "STATE_URL" }
    secret_key = { file = "/run/secrets/hoop" }

    [[issuers]]
    name = "github"
    kind = "github"
    audience = "hoop"

    [[connections]]
    name = "payments"
    kind = "postgres"
    admin_url = { env = "PAYMENTS_ADMIN" }
    database = "payments"
    default_role = "ci_reader"

    [[trust]]
    name = "deploy"
    issuer = "github"
    claims = { repository_id = 42, ref = { glob = "refs/heads/*" } }
    connections = ["payments"]
    ttl = "10m"
"#;

#[test]
fn the_documented_example_is_valid() {
    let text = include_str!("../../../docs/hoop.example.toml");
    let c = Config::from_toml(text, "docs/hoop.example.toml").unwrap();
    c.trust_policy("docs/hoop.example.toml").unwrap();
    assert_eq!(c.issuers[1].issuer_url(), "https://gitlab.example.com");
}

#[test]
fn a_valid_file_loads_with_defaults() {
    let c = Config::from_toml(BASE, "hoop.toml").unwrap();
    assert_eq!(
        c.issuers[0].issuer_url(),
        "https://token.actions.githubusercontent.com"
    );
    assert_eq!(c.trust[0].ttl, Duration::from_secs(600));
    assert_eq!(c.trust[0].max_sessions, 4);
    assert_eq!(c.connections[0].sslmode, crate::upstream::SslMode::Require);
    assert_eq!(c.public_endpoint(), ("127.0.0.1".to_string(), 6432));
}

#[test]
fn unknown_keys_are_refused_with_their_name_and_line() {
    let text = BASE.replace(
        "audience = \"hoop\"",
        "audience = \"hoop\"\nissuer_url = \"x\"",
    );
    let e = Config::from_toml(&text, "hoop.toml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("hoop.toml:"), "{e}");
    assert!(e.contains("issuer_url") && e.contains("line"), "{e}");
}

#[test]
fn references_are_checked() {
    let text = BASE.replace("connections = [\"payments\"]", "connections = [\"ledger\"]");
    let e = Config::from_toml(&text, "hoop.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("trust[0].connections[0]") && e.contains("ledger"),
        "{e}"
    );

    let text = BASE.replace("issuer = \"github\"", "issuer = \"gitlab\"");
    let e = Config::from_toml(&text, "hoop.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("trust[0].issuer"), "{e}");
}

#[test]
fn plain_http_issuers_are_refused_off_loopback() {
    let text = BASE.replace(
        "kind = \"github\"",
        "kind = \"github\"\nurl = \"http://issuer.example\"",
    );
    let e = Config::from_toml(&text, "hoop.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("issuers[0].url") && e.contains("https"), "{e}");
    let text = BASE.replace(
        "kind = \"github\"",
        "kind = \"github\"\nurl = \"http://127.0.0.1:9999\"",
    );
    Config::from_toml(&text, "hoop.toml").unwrap();
}

#[test]
fn hmac_and_none_algorithms_cannot_be_configured() {
    for alg in ["HS256", "none"] {
        let text = BASE.replace(
            "audience = \"hoop\"",
            &format!("audience = \"hoop\"\nalgorithms = [\"{alg}\"]"),
        );
        let e = Config::from_toml(&text, "hoop.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("algorithms"), "{e}");
    }
}

#[test]
fn role_names_are_plain_identifiers() {
    let text = BASE.replace("\"ci_reader\"", "\"x\\\"; drop role postgres; --\"");
    let e = Config::from_toml(&text, "hoop.toml")
        .unwrap_err()
        .to_string();
    // serde names the file, line and key; the id type names the rule.
    assert!(
        e.contains("hoop.toml") && e.contains("default_role") && e.contains("is not valid"),
        "{e}"
    );
}

#[test]
fn a_rule_without_claims_is_refused() {
    let text = BASE.replace(
        "claims = { repository_id = 42, ref = { glob = \"refs/heads/*\" } }",
        "claims = {}",
    );
    let e = Config::from_toml(&text, "hoop.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("trust[0].claims"), "{e}");
}

#[test]
fn the_watcher_is_off_unless_configured_and_has_defaults() {
    assert!(
        Config::from_toml(BASE, "hoop.toml")
            .unwrap()
            .watcher
            .is_none()
    );
    let text = format!("{BASE}\n[watcher]\ngithub_token = {{ env = \"GH\" }}\n");
    let c = Config::from_toml(&text, "hoop.toml").unwrap();
    let w = c.watcher.as_ref().unwrap();
    assert_eq!(w.interval, Duration::from_secs(60));
    assert_eq!(w.github_api_url.as_str(), "https://api.github.com/");
    assert!(w.gitlab_token.is_none());
}

#[test]
fn the_watcher_needs_a_token_a_sane_interval_and_safe_urls() {
    for (section, key) in [
        ("interval = \"1m\"", "github_token or gitlab_token"),
        (
            "github_token = \"t\"\ninterval = \"500ms\"",
            "watcher.interval",
        ),
        (
            "github_token = \"t\"\ngithub_api_url = \"http://api.example.com\"",
            "watcher.github_api_url",
        ),
        (
            "gitlab_token = \"t\"\ngitlab_url = \"http://gitlab.example.com\"",
            "watcher.gitlab_url",
        ),
        // No gitlab issuer to default to.
        ("gitlab_token = \"t\"", "watcher.gitlab_url"),
        (
            "github_token = \"t\"\ntoken = \"t\"",
            "unknown field `token`",
        ),
    ] {
        let text = format!("{BASE}\n[watcher]\n{section}\n");
        let e = Config::from_toml(&text, "hoop.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains(key), "{section}: {e}");
    }
}

#[test]
fn the_gitlab_url_defaults_to_the_gitlab_issuer() {
    let text = format!(
        "{BASE}\n[[issuers]]\nname = \"gl\"\nkind = \"gitlab\"\nurl = \"https://gitlab.example.com/\"\n\
         audience = \"hoop\"\n\n[watcher]\ngitlab_token = \"t\"\n"
    );
    let c = Config::from_toml(&text, "hoop.toml").unwrap();
    assert_eq!(
        c.watcher_gitlab_url().as_deref(),
        Some("https://gitlab.example.com")
    );
}

#[test]
fn masking_defaults_to_pci_display_and_masked_results() {
    let c = Config::from_toml(BASE, "hoop.toml").unwrap();
    assert_eq!(c.masking.style, PanStyle::BinAndLastFour);
    assert!(c.masking.results);
    assert!(c.masking.columns.is_empty() && c.masking.detectors.is_empty());
}

#[test]
fn masking_mistakes_are_refused_with_their_key() {
    for (section, key) in [
        ("[masking]\nstyle = \"token\"", "masking.token_key"),
        ("[masking]\ntoken_key = \"x\"", "masking.token_key"),
        (
            "[[masking.detectors]]\nname = \"d\"\npattern = \"(\"",
            "masking.detectors[0].pattern",
        ),
        (
            "[[masking.detectors]]\nname = \"pan\"\npattern = \"x\"",
            "masking.detectors[0].name",
        ),
        (
            "[[masking.detectors]]\nname = \"empty\"\npattern = \"a*\"",
            "masking.detectors[0].pattern",
        ),
        (
            "[[masking.columns]]\ntable = \"cards\"\ncolumns = [\"cvv\"]\nconnections = [\"nope\"]",
            "masking.columns[0].connections[0]",
        ),
        (
            "[[masking.columns]]\ntable = \"a.b.c\"\ncolumns = [\"cvv\"]",
            "masking.columns",
        ),
        ("[masking]\nstyle = \"show-all\"", "style"),
    ] {
        let text = format!("{BASE}\n{section}\n");
        let e = Config::from_toml(&text, "hoop.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains(key), "{section:?}: {e}");
    }
}

#[test]
fn a_reload_may_change_rules_and_people_but_names_every_other_key_it_cannot() {
    let base = Config::from_toml(BASE, "hoop.toml").unwrap();
    let with = |extra: &str| Config::from_toml(&format!("{BASE}\n{extra}"), "hoop.toml").unwrap();
    let reloadable = with(
        r#"
        [policy]
        protected_tables = ["cards"]
        pan_columns = ["cards.pan"]

        [[rules]]
        id = "no-drops"
        action = "deny"
        kinds = ["drop"]

        [masking]
        style = "last-four"

        [[trust]]
        name = "reports"
        issuer = "github"
        claims = { repository_id = 7, ref = "refs/heads/main" }
        connections = ["payments"]
        "#,
    );
    assert_eq!(base.restart_changes(&reloadable), Vec::<String>::new());
    assert_ne!(base.digest(), reloadable.digest());

    let restart_only = with(
        r#"
        [gateway]
        drain_timeout = "5s"

        [policy]
        max_statement_bytes = 1024
        "#,
    );
    assert_eq!(
        base.restart_changes(&restart_only),
        ["gateway.drain_timeout", "policy.max_statement_bytes"]
    );
    let moved = Config::from_toml(
        &BASE.replace(r#"database = "payments""#, r#"database = "other""#),
        "hoop.toml",
    )
    .unwrap();
    assert_eq!(base.restart_changes(&moved), ["connections"]);
    let same = Config::from_toml(BASE, "elsewhere.toml").unwrap();
    assert_eq!(base.digest(), same.digest(), "the digest is the text's");
}

#[test]
fn the_control_socket_is_found_in_a_file_that_does_not_validate() {
    let dir = std::env::temp_dir().join(format!("hoop-config-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hoop.toml");
    std::fs::write(
        &path,
        "[gateway]\nspool_dir = \"/var/lib/hoop\"\n[[rules]]\naction = \"explode\"\n",
    )
    .unwrap();
    assert_eq!(
        Config::control_socket_of(&path).unwrap(),
        std::path::PathBuf::from("/var/lib/hoop/hoop.sock")
    );
    std::fs::write(&path, "[server]\ncontrol_socket = \"/run/hoop.sock\"\n").unwrap();
    assert_eq!(
        Config::control_socket_of(&path).unwrap(),
        std::path::PathBuf::from("/run/hoop.sock")
    );
    std::fs::write(&path, "[server\n").unwrap();
    let e = Config::control_socket_of(&path).unwrap_err().to_string();
    assert!(e.contains("--socket"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_shipped_files_lint_clean() {
    for (origin, text) in [
        (
            "docs/hoop.example.toml",
            include_str!("../../../docs/hoop.example.toml"),
        ),
        (
            "deploy/kubernetes/hoop.toml",
            include_str!("../../../deploy/kubernetes/hoop.toml"),
        ),
    ] {
        let c = Config::from_toml(text, origin).unwrap();
        let findings: Vec<String> = c
            .lint_located(origin)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(findings.is_empty(), "{findings:#?}");
    }
}

#[test]
fn lint_findings_carry_their_line() {
    let text = format!(
        "{BASE}\n    [[trust]]\n    name = \"typo\"\n    issuer = \"github\"\n    \
         connections = [\"payments\"]\n    [trust.claims]\n    repository_id = 42\n    \
         enviroment = \"prod\"\n"
    );
    let c = Config::from_toml(&text, "hoop.toml").unwrap();
    let findings = c.lint();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].key, "trust[1].claims.enviroment");
    let line = text.lines().position(|l| l.contains("enviroment")).unwrap() + 1;
    let located = c.lint_located("hoop.toml");
    assert_eq!(located[0].line, Some(line));
    assert!(
        located[0].to_string().starts_with(&format!(
            "hoop.toml:{line}: error: trust[1].claims.enviroment: "
        )),
        "{}",
        located[0]
    );
}
