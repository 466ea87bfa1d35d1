-- Trust no single checker: named vantages (groups of sweep workers that reach instances by different
-- network paths), each with its own schedule of every proxy and its own rise/fall counters per
-- instance; the fleet's safety state (the emergency brake; checks suspended when no vantage can see);
-- and storms of any critical notice, counted per owner from the pages of the last minute under a lock
-- held for one statement.

-- ---- vantages and their schedules ------------------------------------------------------------------

CREATE TABLE vantages (
    name         text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    last_run_at  timestamptz,
    impaired     boolean NOT NULL DEFAULT false,
    changed_at   timestamptz NOT NULL DEFAULT now(),
    known_since  timestamptz NOT NULL DEFAULT now()
);

-- Each vantage's schedule of every proxy: its workers claim due rows with FOR UPDATE SKIP LOCKED and
-- move them one interval on, as the single schedule on `proxies` did before.
CREATE TABLE proxy_schedule (
    vantage        text NOT NULL REFERENCES vantages (name) ON DELETE CASCADE,
    proxy_id       text NOT NULL REFERENCES proxies (proxy_id) ON DELETE CASCADE,
    next_check_at  timestamptz NOT NULL,
    PRIMARY KEY (vantage, proxy_id)
);
CREATE INDEX proxy_schedule_due_idx ON proxy_schedule (vantage, next_check_at);
CREATE INDEX proxy_schedule_proxy_idx ON proxy_schedule (proxy_id);

-- A new vantage checks every proxy from its next interval on (spread over it); a new proxy is checked
-- by every vantage within its first interval (the default's: a config comes with or after it). 30 is
-- FailoverConfig's default interval (a test holds them together).
CREATE FUNCTION schedule_for_new_vantage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO proxy_schedule (vantage, proxy_id, next_check_at)
    SELECT NEW.name, p.proxy_id,
           now() + random() * make_interval(secs => COALESCE(c.health_check_interval_seconds, 30))
      FROM proxies p LEFT JOIN proxy_failover_configurations c ON c.proxy_id = p.proxy_id
    ON CONFLICT DO NOTHING;
    RETURN NEW;
END $$;
CREATE TRIGGER vantage_scheduled AFTER INSERT ON vantages
    FOR EACH ROW EXECUTE FUNCTION schedule_for_new_vantage();

-- Once per statement, whatever number of proxies it made (a bulk load of 100,000 is one INSERT here).
CREATE FUNCTION schedule_new_proxies() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO proxy_schedule (vantage, proxy_id, next_check_at)
    SELECT v.name, a.proxy_id, now() + random() * make_interval(secs => 30) FROM added a CROSS JOIN vantages v
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER proxies_scheduled AFTER INSERT ON proxies REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION schedule_new_proxies();

DROP INDEX proxies_due_idx;
ALTER TABLE proxies DROP COLUMN next_check_at;

-- Per vantage: {"<vantage>": {"failures": n, "successes": n, "verdict": "...", "checkedAt": "..."}}
ALTER TABLE proxy_instances ADD COLUMN vantage_state jsonb NOT NULL DEFAULT '{}';

-- ---- the fleet's safety state ----------------------------------------------------------------------

CREATE TABLE fleet_safety (
    only_row          boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    auto_failover     text NOT NULL DEFAULT 'enabled' CHECK (auto_failover IN ('enabled', 'held')),
    reason            text CHECK (length(reason) BETWEEN 1 AND 500),
    changed_by        text,
    changed_at        timestamptz,
    -- released since the last scheduled pass: the next one switches what still should
    release_pending   boolean NOT NULL DEFAULT false,
    -- the last change of `auto_failover` flipped it (its notice went out with it)
    flipped           boolean NOT NULL DEFAULT false,
    -- no vantage can see the fleet (all impaired or absent): one checks_suspended went out
    checks_suspended  boolean NOT NULL DEFAULT false
);
INSERT INTO fleet_safety DEFAULT VALUES;

-- ---- storms of any critical notice -----------------------------------------------------------------

-- The owner's storm in progress (tiny, fixed size: what grew with every failover now lives in pages).
DROP TABLE fleet_storms;
CREATE TABLE fleet_storms (
    owner_id     text PRIMARY KEY,
    storm_id     uuid,
    storm_until  timestamptz
);
-- Append-only: one row per proxy that paged (sent a critical notice) in a write; counted by index.
CREATE TABLE fleet_pages (
    owner_id   text NOT NULL,
    proxy_id   text NOT NULL,
    paged_at   timestamptz NOT NULL
);
CREATE INDEX fleet_pages_owner_idx ON fleet_pages (owner_id, paged_at);
CREATE INDEX fleet_pages_age_idx ON fleet_pages (paged_at);

-- Records that `p_proxies` of `p_owner` page at `p_at` and decides the storm: more than
-- `p_threshold` distinct proxies of the owner paging within a minute opens one (`opened`: this write
-- sends the fleet_incident, naming at most 1,000 of them, newest first); it lasts until a minute after
-- the last page that kept it over the threshold, and meanwhile every page is `in_storm`. Called by the
-- write statement of a transaction that pages: the owner's row is locked from here to that
-- transaction's COMMIT, which travels with the statement. Volatile: its statements see what writers
-- that held the lock before committed, so concurrent writers count each other.
CREATE FUNCTION page_storm(p_owner text, p_proxies text[], p_at timestamptz, p_threshold integer)
RETURNS TABLE (owner_id text, in_storm boolean, opened boolean, storm_id uuid, paged integer,
               proxy_ids text[])
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    current fleet_storms%ROWTYPE;
    window_start timestamptz := p_at - interval '60 seconds';
BEGIN
    INSERT INTO fleet_storms AS s (owner_id) VALUES (p_owner) ON CONFLICT DO NOTHING;
    SELECT * INTO current FROM fleet_storms s WHERE s.owner_id = p_owner FOR UPDATE;
    INSERT INTO fleet_pages (owner_id, proxy_id, paged_at) SELECT p_owner, unnest(p_proxies), p_at;
    SELECT count(DISTINCT g.proxy_id) INTO paged
      FROM fleet_pages g WHERE g.owner_id = p_owner AND g.paged_at > window_start;
    page_storm.owner_id := p_owner;
    opened := false;
    proxy_ids := NULL;
    IF current.storm_until IS NOT NULL AND current.storm_until > p_at THEN
        in_storm := true;
        storm_id := current.storm_id;
        IF paged > p_threshold THEN
            UPDATE fleet_storms s SET storm_until = p_at + interval '60 seconds' WHERE s.owner_id = p_owner;
        END IF;
    ELSIF paged > p_threshold THEN
        in_storm := true;
        opened := true;
        storm_id := gen_random_uuid();
        SELECT array_agg(last.proxy_id ORDER BY last.at DESC, last.proxy_id) INTO proxy_ids
          FROM (SELECT g.proxy_id, max(g.paged_at) AS at FROM fleet_pages g
                 WHERE g.owner_id = p_owner AND g.paged_at > window_start
                 GROUP BY g.proxy_id ORDER BY at DESC, g.proxy_id LIMIT 1000) last;
        UPDATE fleet_storms s SET storm_id = page_storm.storm_id, storm_until = p_at + interval '60 seconds'
         WHERE s.owner_id = p_owner;
    ELSE
        in_storm := false;
        storm_id := NULL;
    END IF;
    RETURN NEXT;
END $$;
