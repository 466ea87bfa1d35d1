-- Alerts people can act on, and an audit trail: the incident an instance's notifications share,
-- drills (a real switch, switched back by the scheduled run), the history of every configuration,
-- and each owner's failover storm state.

-- The incident an instance's notifications share (opened when it turned unhealthy).
ALTER TABLE proxy_instances ADD COLUMN incident_id uuid;

ALTER TABLE proxy_failover_events DROP CONSTRAINT proxy_failover_events_event_type_check;
ALTER TABLE proxy_failover_events ADD CONSTRAINT proxy_failover_events_event_type_check
    CHECK (event_type IN ('failover', 'failback', 'manual', 'recovery', 'maintenance', 'drill'));

-- A drill in progress: its event, when the scheduled run switches back, and to which instance.
ALTER TABLE proxies
    ADD COLUMN drill_event_id        uuid,
    ADD COLUMN drill_until           timestamptz,
    ADD COLUMN drill_return_to       uuid,
    ADD CONSTRAINT drill_complete CHECK (
        (drill_event_id IS NULL) = (drill_until IS NULL) AND (drill_event_id IS NULL) = (drill_return_to IS NULL));
-- The scheduled run finds drills and maintenance whose time is up without scanning.
CREATE INDEX proxies_drill_due_idx ON proxies (drill_until) WHERE drill_until IS NOT NULL;
CREATE INDEX proxy_instances_maintenance_due_idx ON proxy_instances (maintenance_until)
    WHERE maintenance_until IS NOT NULL;

-- Every configuration change: the whole configuration after it, and the fields it changed.
CREATE TABLE config_versions (
    proxy_id    text NOT NULL REFERENCES proxies (proxy_id) ON DELETE CASCADE,
    version     integer NOT NULL CHECK (version >= 1),
    config      jsonb NOT NULL,
    changes     jsonb NOT NULL,
    changed_by  text NOT NULL,
    changed_at  timestamptz NOT NULL,
    PRIMARY KEY (proxy_id, version)
);

-- One row per owner: failovers per second over the last minute, the proxies that failed over in it
-- (newest first, at most 1,000), and the storm in progress, if any. Writers lock it, so concurrent
-- failovers of one owner count each other.
CREATE TABLE fleet_storms (
    owner_id     text PRIMARY KEY,
    per_second   jsonb NOT NULL DEFAULT '{}',
    proxy_ids    jsonb NOT NULL DEFAULT '[]',
    storm_id     uuid,
    storm_until  timestamptz
);

-- A fleet-wide notification belongs to no proxy.
ALTER TABLE notification_outbox ALTER COLUMN proxy_id DROP NOT NULL;
