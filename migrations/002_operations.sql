-- Day-two operations: the data plane's endpoint and probe options of an instance, maintenance with a
-- time limit, the time of an instance's latest real check result (report time-to-live), idempotent
-- health reports, maintenance moves in the ledger, and ledger rows that keep the ids of instances
-- since removed.

ALTER TABLE proxy_instances
    ADD COLUMN endpoint                text CHECK (length(endpoint) BETWEEN 1 AND 2048),
    ADD COLUMN probe                   jsonb,
    ADD COLUMN maintenance_until       timestamptz,
    ADD COLUMN maintenance_reason      text CHECK (length(maintenance_reason) BETWEEN 1 AND 500),
    ADD COLUMN maintenance_started_by  text,
    -- the latest result of a probe or a report (checks the time-to-live itself fails do not count)
    ADD COLUMN last_result_at          timestamptz,
    ADD CONSTRAINT maintenance_complete CHECK (
        (maintenance_until IS NULL) = (maintenance_reason IS NULL)
        AND (maintenance_until IS NULL) = (maintenance_started_by IS NULL));

ALTER TABLE proxy_failover_configurations
    ADD COLUMN report_ttl_seconds integer CHECK (report_ttl_seconds BETWEEN 1 AND 86400);

ALTER TABLE proxy_failover_events DROP CONSTRAINT proxy_failover_events_event_type_check;
ALTER TABLE proxy_failover_events ADD CONSTRAINT proxy_failover_events_event_type_check
    CHECK (event_type IN ('failover', 'failback', 'manual', 'recovery', 'maintenance'));
-- The ledger keeps the ids of instances that were deregistered since.
ALTER TABLE proxy_failover_events DROP CONSTRAINT proxy_failover_events_source_instance_id_fkey;
ALTER TABLE proxy_failover_events DROP CONSTRAINT proxy_failover_events_target_instance_id_fkey;

-- A report with an Idempotency-Key: the answer to its first use, for 10 minutes.
CREATE TABLE report_keys (
    instance_id  uuid NOT NULL REFERENCES proxy_instances (id) ON DELETE CASCADE,
    key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 128),
    response     jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance_id, key)
);
CREATE INDEX report_keys_age_idx ON report_keys (created_at);
