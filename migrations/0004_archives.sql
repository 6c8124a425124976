-- Session archives in the WORM store, and each replica's signed digest chain.

-- Where each session's evidence is: still in its replica's spool, stored in the archive
-- store, or left in the spool for an operator because its recording does not verify.
ALTER TABLE hoop_sessions
    ADD COLUMN archive_state text NOT NULL DEFAULT 'spooled'
        CHECK (archive_state IN ('spooled', 'stored', 'quarantined')),
    ADD COLUMN archived_at timestamptz;

-- One row per stored archive, written once both objects are confirmed in the store. Keyed by
-- the recording's session id (text: a spool file need not have a sessions row). A replica's
-- next digest lists the rows it has not listed yet (`digest_key` NULL), then sets it.
CREATE TABLE hoop_archives (
    session_id      text PRIMARY KEY,
    replica         text NOT NULL,
    store           text NOT NULL,
    manifest_key    text NOT NULL,
    manifest_sha256 text NOT NULL,
    recording_key   text NOT NULL,
    object_sha256   text NOT NULL,
    content_sha256  text NOT NULL,
    end_state       text NOT NULL,
    run_id          text,
    repository      text,
    connection      text,
    started_at      timestamptz,
    ended_at        timestamptz,
    sealed_at       timestamptz NOT NULL,
    retain_until    timestamptz NOT NULL,
    stored_at       timestamptz NOT NULL DEFAULT now(),
    digest_key      text
);
CREATE INDEX hoop_archives_undigested ON hoop_archives (replica) WHERE digest_key IS NULL;
CREATE INDEX hoop_archives_ended ON hoop_archives (ended_at);

-- Each replica's digests, newest last. A row is written, with the digest's exact bytes, in the
-- transaction that claims its archives, before the digest is put: after a crash the same bytes
-- are put again, so the chain never forks.
CREATE TABLE hoop_digests (
    replica      text NOT NULL,
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    key          text NOT NULL,
    sha256       text NOT NULL,
    body         bytea NOT NULL,
    archives     integer NOT NULL,
    stored       boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (replica, period_start)
);
