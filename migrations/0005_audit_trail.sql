-- The audit trail goes to the WORM store like the sessions (PCI DSS 10.3.3, 10.5.1): each
-- replica seals its unsealed events into a signed segment at every digest period, listed by
-- that period's digest. The state database keeps a bounded window, in monthly partitions that
-- are dropped only once every event in them is in a stored, re-read segment.

-- Partitioned by month on `at`; the primary key must hold the partition key.
ALTER TABLE hoop_audit_events RENAME TO hoop_audit_events_unpartitioned;
ALTER INDEX hoop_audit_events_pkey RENAME TO hoop_audit_events_unpartitioned_pkey;
ALTER INDEX hoop_audit_events_at RENAME TO hoop_audit_events_unpartitioned_at;
ALTER INDEX hoop_audit_events_credential RENAME TO hoop_audit_events_unpartitioned_credential;

CREATE TABLE hoop_audit_events (
    id               bigint NOT NULL DEFAULT nextval('hoop_audit_events_id_seq'),
    at               timestamptz NOT NULL DEFAULT now(),
    replica          text NOT NULL,
    action           text NOT NULL,
    outcome          text NOT NULL CHECK (outcome IN ('success', 'denied', 'error')),
    code             text NOT NULL,
    message          text NOT NULL,
    remote_addr      text,
    issuer           text,
    subject          text,
    claims           jsonb,
    claims_verified  boolean NOT NULL DEFAULT false,
    trust_rule       text,
    connection       text,
    credential_id    uuid,
    -- The segment that holds the event in the archive store; NULL until it is sealed.
    segment_key      text,
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
ALTER SEQUENCE hoop_audit_events_id_seq OWNED BY hoop_audit_events.id;
CREATE INDEX hoop_audit_events_at ON hoop_audit_events (at);
CREATE INDEX hoop_audit_events_credential ON hoop_audit_events (credential_id);
CREATE INDEX hoop_audit_events_unsealed ON hoop_audit_events (replica, id)
    WHERE segment_key IS NULL;
-- Whatever no month partition takes (the maintenance fell months behind): never a lost event.
CREATE TABLE hoop_audit_events_default PARTITION OF hoop_audit_events DEFAULT;

-- The month partition holding `month` (any instant of it), created if missing.
CREATE FUNCTION hoop_audit_partition_ensure(month timestamptz) RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    first timestamptz := date_trunc('month', month AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    name text := 'hoop_audit_events_' || to_char(first AT TIME ZONE 'UTC', 'YYYY_MM');
BEGIN
    IF to_regclass(name) IS NULL THEN
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF hoop_audit_events FOR VALUES FROM (%L) TO (%L)',
            name, first, first + interval '1 month');
    END IF;
    RETURN name;
END
$$;

-- The months that hold events, this month and the next two.
SELECT hoop_audit_partition_ensure(m)
  FROM (SELECT DISTINCT date_trunc('month', at) AS m FROM hoop_audit_events_unpartitioned
        UNION SELECT now() UNION SELECT now() + interval '1 month'
        UNION SELECT now() + interval '2 months') months;

INSERT INTO hoop_audit_events (id, at, replica, action, outcome, code, message, remote_addr,
                               issuer, subject, claims, claims_verified, trust_rule,
                               connection, credential_id)
SELECT id, at, replica, action, outcome, code, message, remote_addr, issuer, subject, claims,
       claims_verified, trust_rule, connection, credential_id
  FROM hoop_audit_events_unpartitioned;
DROP TABLE hoop_audit_events_unpartitioned;

-- Append-only still (PCI DSS 10.3.2): the one change allowed is sealing, once, an event's
-- `segment_key` from NULL, every other column unchanged.
CREATE OR REPLACE FUNCTION hoop_audit_events_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.segment_key IS NULL AND NEW.segment_key IS NOT NULL
           AND (to_jsonb(OLD) - 'segment_key') = (to_jsonb(NEW) - 'segment_key') THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'hoop_audit_events is append-only';
END
$$;
CREATE TRIGGER hoop_audit_events_no_update_delete
    BEFORE UPDATE OR DELETE ON hoop_audit_events
    FOR EACH ROW EXECUTE FUNCTION hoop_audit_events_refuse_change();
CREATE TRIGGER hoop_audit_events_no_truncate
    BEFORE TRUNCATE ON hoop_audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION hoop_audit_events_refuse_change();

-- Each replica's sealed audit segments, with their exact bytes: written in the transaction
-- that seals the events and claims the period's digest, put in the store before the digest.
CREATE TABLE hoop_audit_segments (
    replica      text NOT NULL,
    period_start timestamptz NOT NULL,
    key          text NOT NULL UNIQUE,
    sha256       text NOT NULL,
    body         bytea NOT NULL,
    events       integer NOT NULL,
    stored       boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (replica, period_start)
);
