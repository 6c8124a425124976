-- The sessions index: one row per gateway session, pointing at its recording.

CREATE TABLE hoop_sessions (
    id              uuid PRIMARY KEY,
    credential_id   uuid NOT NULL REFERENCES hoop_credentials (id),
    username        text NOT NULL,
    connection      text NOT NULL,
    database        text NOT NULL,
    replica         text NOT NULL,
    client_addr     text,
    tls             boolean NOT NULL,
    application     text,
    state           text NOT NULL CHECK (state IN ('live', 'ended', 'terminated')),
    started_at      timestamptz NOT NULL DEFAULT now(),
    ended_at        timestamptz,
    end_reason      text,
    statements      bigint NOT NULL DEFAULT 0,
    errors          bigint NOT NULL DEFAULT 0,
    -- The recording: spool file while live, then its chain head and size once closed.
    spool_path      text NOT NULL,
    events          bigint,
    chain_head      text,
    recording_bytes bigint
);
CREATE INDEX hoop_sessions_credential ON hoop_sessions (credential_id);
CREATE INDEX hoop_sessions_live ON hoop_sessions (replica) WHERE state = 'live';
