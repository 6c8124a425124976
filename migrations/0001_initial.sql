-- hoop runtime state: credentials, used token ids, audit events.
-- Policy lives in the configuration file, not here.

CREATE TABLE hoop_credentials (
    id              uuid PRIMARY KEY,
    -- Also the name of the per-run upstream role.
    username        text NOT NULL UNIQUE,
    -- SCRAM-SHA-256 verifier; the password itself is never stored.
    scram_verifier  text NOT NULL,
    connection      text NOT NULL,
    database        text NOT NULL,
    parent_role     text NOT NULL,
    trust_rule      text NOT NULL,
    issuer          text NOT NULL,
    subject         text NOT NULL,
    provider        text NOT NULL,
    repository      text NOT NULL,
    repository_id   text NOT NULL,
    run_id          text NOT NULL,
    run_attempt     integer NOT NULL,
    job_id          text,
    identity        jsonb NOT NULL,
    max_sessions    integer NOT NULL CHECK (max_sessions > 0),
    state           text NOT NULL CHECK (state IN
                        ('provisioning', 'active', 'revoking', 'revoked', 'expired', 'failed')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    revoke_reason   text,
    -- When the upstream role was dropped.
    retired_at      timestamptz
);

-- What the reaper scans: credentials whose upstream role may still exist.
CREATE INDEX hoop_credentials_live ON hoop_credentials (expires_at)
    WHERE state IN ('provisioning', 'active', 'revoking');
CREATE INDEX hoop_credentials_run ON hoop_credentials (issuer, repository_id, run_id);

-- A token id (jti) is accepted once, and remembered until the token expires.
CREATE TABLE hoop_used_tokens (
    issuer      text NOT NULL,
    jti         text NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, jti)
);
CREATE INDEX hoop_used_tokens_expiry ON hoop_used_tokens (expires_at);

-- Every exchange and revocation, allowed or refused. Never a token or a password.
CREATE TABLE hoop_audit_events (
    id               bigserial PRIMARY KEY,
    at               timestamptz NOT NULL DEFAULT now(),
    replica          text NOT NULL,
    action           text NOT NULL,
    outcome          text NOT NULL CHECK (outcome IN ('success', 'denied', 'error')),
    code             text NOT NULL,
    message          text NOT NULL,
    remote_addr      text,
    issuer           text,
    subject          text,
    -- The run identity when the token verified; otherwise a few unverified claims.
    claims           jsonb,
    claims_verified  boolean NOT NULL DEFAULT false,
    trust_rule       text,
    connection       text,
    credential_id    uuid
);
CREATE INDEX hoop_audit_events_at ON hoop_audit_events (at);
CREATE INDEX hoop_audit_events_credential ON hoop_audit_events (credential_id);

-- The audit trail is append-only (PCI DSS 10.3.2): hoop never changes or removes an event.
CREATE FUNCTION hoop_audit_events_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'hoop_audit_events is append-only';
END
$$;
CREATE TRIGGER hoop_audit_events_no_update_delete
    BEFORE UPDATE OR DELETE ON hoop_audit_events
    FOR EACH ROW EXECUTE FUNCTION hoop_audit_events_refuse_change();
CREATE TRIGGER hoop_audit_events_no_truncate
    BEFORE TRUNCATE ON hoop_audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION hoop_audit_events_refuse_change();
