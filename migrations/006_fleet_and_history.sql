-- Operators see the fleet: pages of proxies by id (byte order, prefix searches by index), the ledger
-- across proxies (by owner and time), proxies that can be decommissioned while their ledger and
-- config history stay until retention, and the recent check results of every instance, bounded as
-- they are written (a ring of 100 per instance and vantage, reports their own).

-- ---- the fleet, in byte order ----------------------------------------------------------------------

-- Proxy ids are ASCII: byte order ("C") is their natural order and lets a prefix be a range.
CREATE INDEX proxies_page_idx ON proxies ((proxy_id COLLATE "C"));
DROP INDEX proxies_owner_idx;
CREATE INDEX proxies_owner_page_idx ON proxies (owner_id, (proxy_id COLLATE "C"));
CREATE INDEX proxy_redundancy_degraded_idx ON proxy_redundancy_status (proxy_id) WHERE is_degraded;

-- ---- the ledger across proxies, kept past its proxy --------------------------------------------

ALTER TABLE proxy_failover_events ADD COLUMN owner_id text;
UPDATE proxy_failover_events e SET owner_id = p.owner_id FROM proxies p WHERE p.proxy_id = e.proxy_id;
ALTER TABLE proxy_failover_events ALTER COLUMN owner_id SET NOT NULL;
-- set when its proxy is decommissioned: kept for the owner's fleet ledger, no longer the proxy's
ALTER TABLE proxy_failover_events ADD COLUMN removed_at timestamptz;
ALTER TABLE proxy_failover_events DROP CONSTRAINT proxy_failover_events_proxy_id_fkey;
CREATE INDEX proxy_failover_events_owner_idx ON proxy_failover_events (owner_id, started_at DESC, id DESC);
CREATE INDEX proxy_failover_events_fleet_idx ON proxy_failover_events (started_at DESC, id DESC);

ALTER TABLE config_versions ADD COLUMN removed_at timestamptz;
ALTER TABLE config_versions DROP CONSTRAINT config_versions_proxy_id_fkey;
ALTER TABLE config_versions DROP CONSTRAINT config_versions_pkey;
CREATE UNIQUE INDEX config_versions_live_idx ON config_versions (proxy_id, version) WHERE removed_at IS NULL;
-- a removed proxy's history goes when retention's age for the ledger has passed since its removal
CREATE INDEX config_versions_removed_idx ON config_versions (removed_at) WHERE removed_at IS NOT NULL;

-- ---- recent check results: a ring per instance and vantage ---------------------------------------

CREATE TABLE check_results (
    instance_id  uuid NOT NULL REFERENCES proxy_instances (id) ON DELETE CASCADE,
    -- the vantage of a probe; '' for a report (the reporter's own verdict)
    source_key   text NOT NULL,
    slot         smallint NOT NULL CHECK (slot BETWEEN 0 AND 99),
    checked_at   timestamptz NOT NULL,
    result       text NOT NULL CHECK (result IN ('healthy', 'unhealthy', 'unknown')),
    latency_ms   double precision,
    reason       text CHECK (length(reason) <= 500),
    PRIMARY KEY (instance_id, source_key, slot)
);
-- Read by the primary key's instance prefix (at most 100 rows per vantage and of reports), sorted
-- in memory: no second index to write with every check.
-- reports recorded for the instance so far: the next report's slot is this modulo 100
ALTER TABLE proxy_instances ADD COLUMN reports_recorded integer NOT NULL DEFAULT 0;
