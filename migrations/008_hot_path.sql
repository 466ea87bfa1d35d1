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
