//! The DDL for run roles. Role statements take no bind parameters, so identifiers and literals
//! are quoted here, and only here.

use std::fmt::Write;

use super::RunRole;
use crate::base::DbRole;
use crate::credentials::{ScramVerifier, Username};

/// `"name"` with embedded quotes doubled.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` with embedded quotes doubled; backslashes are literal under
/// `standard_conforming_strings` (on by default and required by hoop's admin sessions, which
/// set it explicitly below).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

pub fn create_role(role: &RunRole<'_>, verifier: &ScramVerifier) -> String {
    let name = ident(role.name.as_str());
    let mut sql = String::from("SET LOCAL standard_conforming_strings = on;\n");
    let _ = writeln!(
        sql,
        "CREATE ROLE {name} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION \
         NOBYPASSRLS INHERIT CONNECTION LIMIT {} PASSWORD {} VALID UNTIL {} IN ROLE {};",
        role.connection_limit,
        literal(&verifier.to_string()),
        literal(&role.valid_until.to_rfc3339()),
        ident(role.parent.as_str()),
    );
    let _ = writeln!(sql, "COMMENT ON ROLE {name} IS {};", literal(role.comment));
    sql
}

pub fn disable_login(role: &Username) -> String {
    format!("ALTER ROLE {} NOLOGIN;", ident(role.as_str()))
}

/// Objects the run created are handed to its parent role (a migration's tables outlive the
/// run), privileges granted to it dropped, then the role itself. First, triggers that run a
/// function of the run's on a table it does not own are dropped: reassigned, such a trigger
/// would go on firing as the parent role after the run, a backdoor into someone else's table
/// (the statement policy refuses creating one on a protected table; this removes any other).
pub fn drop_role(role: &Username, parent: &DbRole) -> String {
    let name = ident(role.as_str());
    format!(
        "DO $hoop_retire$ DECLARE t record; BEGIN\n\
         FOR t IN SELECT tg.tgname, tg.tgrelid::regclass AS rel FROM pg_catalog.pg_trigger tg\n\
         JOIN pg_catalog.pg_proc p ON p.oid = tg.tgfoid\n\
         JOIN pg_catalog.pg_class c ON c.oid = tg.tgrelid\n\
         WHERE NOT tg.tgisinternal AND c.relowner <> p.proowner\n\
         AND p.proowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = {role_name})\n\
         LOOP EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', t.tgname, t.rel); END LOOP;\n\
         END $hoop_retire$;\n\
         REASSIGN OWNED BY {name} TO {parent};\nDROP OWNED BY {name};\nDROP ROLE {name};",
        role_name = literal(role.as_str()),
        parent = ident(parent.as_str())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
    }

    #[test]
    fn create_role_is_one_batch_with_every_limit() {
        let name = Username::from_stored("run-1-1-abcdef".into());
        let parent = DbRole::new("ci_reader").unwrap();
        let role = RunRole {
            name: &name,
            parent: &parent,
            valid_until: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            connection_limit: 2,
            comment: "hoop run 1 (rule 'x')",
        };
        let v = ScramVerifier::generate("pw");
        let sql = create_role(&role, &v);
        assert!(
            sql.contains("CREATE ROLE \"run-1-1-abcdef\" WITH LOGIN"),
            "{sql}"
        );
        assert!(sql.contains("CONNECTION LIMIT 2"));
        assert!(
            sql.contains("VALID UNTIL '2027-01-15T08:00:00+00:00'"),
            "{sql}"
        );
        assert!(sql.contains("IN ROLE \"ci_reader\""));
        assert!(sql.contains("'hoop run 1 (rule ''x'')'"));
        assert!(sql.contains("PASSWORD 'SCRAM-SHA-256$4096:"));
    }
}
