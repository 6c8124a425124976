-- Just-in-time approvals: a statement held by an `approve` rule until a human decides.
-- The statement text is stored masked (no card number), as in recordings.
CREATE TABLE hoop_approvals (
    id              uuid PRIMARY KEY,
    credential_id   uuid NOT NULL REFERENCES hoop_credentials (id),
    session_id      uuid NOT NULL,
    -- The replica holding the statement; any replica may record the decision.
    replica         text NOT NULL,
    connection      text NOT NULL,
    rule            text NOT NULL,
    reason          text NOT NULL,
    statement       text NOT NULL,
    -- pg_query fingerprint of the statement: what a run-wide approval covers.
    fingerprint     text NOT NULL,
    -- The run, as its credential names it: an approval for the run covers its other sessions.
    issuer          text NOT NULL,
    repository      text NOT NULL,
    repository_id   text NOT NULL,
    run_id          text NOT NULL,
    actor           text,
    run_url         text,
    identity        jsonb NOT NULL,
    state           text NOT NULL
                        CHECK (state IN ('pending', 'approved', 'denied', 'expired', 'withdrawn')),
    -- For an approval: `once` (this statement) or `run` (this fingerprint for the whole run).
    scope           text CHECK (scope IN ('once', 'run')),
    requested_at    timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    decided_at      timestamptz,
    decided_by      text,
    comment         text,
    CHECK ((state = 'approved') = (scope IS NOT NULL)),
    CHECK ((state = 'pending') = (decided_at IS NULL))
);
CREATE INDEX hoop_approvals_pending ON hoop_approvals (requested_at) WHERE state = 'pending';
CREATE INDEX hoop_approvals_run
    ON hoop_approvals (issuer, repository_id, run_id, connection, rule, fingerprint)
    WHERE state = 'approved' AND scope = 'run';
CREATE INDEX hoop_approvals_requested ON hoop_approvals (requested_at);
