-- The hot path: a writer locks and reads its proxy in one statement, and storms are decided after the
-- write commits, so that no owner-wide lock is held across a write transaction; and the fleet list's
-- degraded page read from an index of its own.

-- Grows with every write of the proxy's row, config, posture or set of instances (the parts of the
-- aggregate a lock does not hold): a writer that locked the proxy and read the rest of it in the same
-- statement compares the locked row's value with the one its snapshot read, and reads again when
-- another writer committed in between.
ALTER TABLE proxies ADD COLUMN write_seq bigint NOT NULL DEFAULT 0;

-- After the write that sent them has committed (the statement travels in the same message as that
-- COMMIT: no round trip more), each owner's pages are counted by `page_storm`, its storm row locked
-- only until this statement's own commit, which waits for no disk flush (a crash may forget the
-- storm's bookkeeping of its last moments: the pages then go out as they were written, critical).
-- `p_pages`: [{"owner_id", "proxy_ids": [...], "outbox_ids": [...]}] of one write. A write that did
-- not commit left no outbox rows: nothing is counted for it. In a storm the write's pages become
-- `warning` naming the storm; the write that opens it adds its fleet_incident. Returns the outbox
-- rows it changed or added, the fleet_incident first.
CREATE FUNCTION storm_after_commit(p_pages jsonb, p_at timestamptz, p_threshold integer, p_grace float8)
RETURNS TABLE (id uuid, type text, proxy_id text, user_id text, severity text, message jsonb, n integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    page record;
    verdict record;
    incident uuid;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    FOR page IN
        SELECT r.owner_id, ARRAY(SELECT jsonb_array_elements_text(r.proxy_ids)) AS proxies,
               ARRAY(SELECT CAST(jsonb_array_elements_text(r.outbox_ids) AS uuid)) AS ids
          FROM jsonb_to_recordset(p_pages) AS r(owner_id text, proxy_ids jsonb, outbox_ids jsonb)
         ORDER BY r.owner_id
    LOOP
        CONTINUE WHEN NOT EXISTS (SELECT 1 FROM notification_outbox o WHERE o.id = ANY(page.ids));
        SELECT * INTO verdict FROM page_storm(page.owner_id, page.proxies, p_at, p_threshold);
        IF verdict.opened THEN
            incident := gen_random_uuid();
            RETURN QUERY
            INSERT INTO notification_outbox AS o (id, type, proxy_id, user_id, severity, message, next_attempt_at)
            VALUES (incident, 'fleet_incident', NULL, page.owner_id, 'critical',
                    jsonb_build_object('id', incident, 'type', 'fleet_incident', 'proxyId', NULL,
                                       'userId', page.owner_id, 'occurredAt', p_at, 'severity', 'critical',
                                       'correlationId', verdict.storm_id, 'drill', false, 'count', verdict.paged,
                                       'windowSeconds', 60, 'threshold', p_threshold,
                                       'proxyIds', to_jsonb(verdict.proxy_ids)),
                    now() + make_interval(secs => p_grace))
            RETURNING o.id, o.type, o.proxy_id, o.user_id, o.severity, o.message, 0;
        END IF;
        IF verdict.in_storm THEN
            RETURN QUERY
            UPDATE notification_outbox o SET
                severity = 'warning',
                message = o.message || jsonb_build_object('severity', 'warning', 'fleetIncidentId', verdict.storm_id)
             WHERE o.id = ANY(page.ids) AND o.sent_at IS NULL
            RETURNING o.id, o.type, o.proxy_id, o.user_id, o.severity, o.message, 1;
        END IF;
    END LOOP;
END $$;

-- The fleet list's degraded proxies in id order (GET /proxies?degraded=true), walked without reading
-- the healthy ones.
CREATE INDEX proxy_redundancy_degraded_page_idx ON proxy_redundancy_status ((proxy_id COLLATE "C"))
    WHERE is_degraded;

-- Storms count the distinct proxies of an owner that paged within the last minute. An append-only
-- page a row made that count read every page of the window (thousands a minute for an owner whose
-- proxies page in a loop); one row per owner and proxy, holding its last page, makes it read one
-- row per proxy that paged. Kept a few minutes (retention), as the window needs one.
CREATE TABLE fleet_page_last (
    owner_id   text NOT NULL,
    proxy_id   text NOT NULL,
    paged_at   timestamptz NOT NULL,
    PRIMARY KEY (owner_id, proxy_id)
);
CREATE INDEX fleet_page_last_window_idx ON fleet_page_last (owner_id, paged_at);
CREATE INDEX fleet_page_last_age_idx ON fleet_page_last (paged_at);
INSERT INTO fleet_page_last (owner_id, proxy_id, paged_at)
SELECT owner_id, proxy_id, max(paged_at) FROM fleet_pages GROUP BY owner_id, proxy_id;
DROP TABLE fleet_pages;

CREATE OR REPLACE FUNCTION page_storm(p_owner text, p_proxies text[], p_at timestamptz, p_threshold integer)
RETURNS TABLE (owner_id text, in_storm boolean, opened boolean, storm_id uuid, paged integer,
               proxy_ids text[])
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    current fleet_storms%ROWTYPE;
    window_start timestamptz := p_at - interval '60 seconds';
BEGIN
    INSERT INTO fleet_storms AS s (owner_id) VALUES (p_owner) ON CONFLICT DO NOTHING;
    SELECT * INTO current FROM fleet_storms s WHERE s.owner_id = p_owner FOR UPDATE;
    INSERT INTO fleet_page_last AS l (owner_id, proxy_id, paged_at)
    SELECT p_owner, x.proxy_id, p_at FROM (SELECT DISTINCT unnest(p_proxies) AS proxy_id) x
    ON CONFLICT ON CONSTRAINT fleet_page_last_pkey DO UPDATE SET paged_at = GREATEST(l.paged_at, EXCLUDED.paged_at);
    SELECT count(*) INTO paged FROM fleet_page_last l WHERE l.owner_id = p_owner AND l.paged_at > window_start;
    page_storm.owner_id := p_owner;
    opened := false;
    proxy_ids := NULL;
    IF current.storm_until IS NOT NULL AND current.storm_until > p_at THEN
        in_storm := true;
        storm_id := current.storm_id;
        -- kept a minute past the last page that keeps it over (moved at most once a second)
        IF paged > p_threshold AND current.storm_until < p_at + interval '59 seconds' THEN
            UPDATE fleet_storms s SET storm_until = p_at + interval '60 seconds' WHERE s.owner_id = p_owner;
        END IF;
    ELSIF paged > p_threshold THEN
        in_storm := true;
        opened := true;
        storm_id := gen_random_uuid();
        SELECT array_agg(last.proxy_id ORDER BY last.paged_at DESC, last.proxy_id) INTO proxy_ids
          FROM (SELECT l.proxy_id, l.paged_at FROM fleet_page_last l
                 WHERE l.owner_id = p_owner AND l.paged_at > window_start
                 ORDER BY l.paged_at DESC, l.proxy_id LIMIT 1000) last;
        UPDATE fleet_storms s SET storm_id = page_storm.storm_id, storm_until = p_at + interval '60 seconds'
         WHERE s.owner_id = p_owner;
    ELSE
        in_storm := false;
        storm_id := NULL;
    END IF;
    RETURN NEXT;
END $$;
