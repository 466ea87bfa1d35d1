-- The routing answer pushed: each proxy's answer is decided and stored by the transaction that
-- changes it, with a version that grows by one with every change (`route_changed` carries both);
-- GET /proxy/{id}/route reads it as stored. Ramps of slow start end at `route_ramp_until`, when the
-- sweep writes the proxy again. A proxy not written since this migration has no stored answer yet:
-- it is computed when asked, version 0, until its next write stores it.

ALTER TABLE proxies ADD COLUMN route jsonb;
ALTER TABLE proxies ADD COLUMN route_version bigint NOT NULL DEFAULT 0 CHECK (route_version >= 0);
ALTER TABLE proxies ADD COLUMN route_ramp_until timestamptz;
CREATE INDEX proxies_ramp_due_idx ON proxies (route_ramp_until) WHERE route_ramp_until IS NOT NULL;

-- Slow start: an instance that becomes a target again ramps from 10% of its share to all of it
-- over this many seconds (NULL: off).
ALTER TABLE proxy_failover_configurations
    ADD COLUMN slow_start_seconds integer CHECK (slow_start_seconds BETWEEN 1 AND 3600);
