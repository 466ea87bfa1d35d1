-- The sweep as a fleet, and data that does not grow without bound: indexes that let retention delete
-- the oldest rows in small batches without scanning, and the dispatcher measure the backlog.

-- Retention: metrics older than RETENTION_METRICS_DAYS, sent notifications older than
-- RETENTION_SENT_NOTIFICATIONS_DAYS, finished events older than RETENTION_EVENTS_DAYS.
CREATE INDEX proxy_instance_metrics_age_idx ON proxy_instance_metrics (recorded_at);
CREATE INDEX notification_outbox_sent_idx ON notification_outbox (sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX proxy_failover_events_finished_idx ON proxy_failover_events (completed_at)
    WHERE status <> 'in_progress';
-- The dispatcher counts each due proxy's probe targets.
CREATE INDEX proxy_instances_probed_idx ON proxy_instances (proxy_id) WHERE health_check_url IS NOT NULL;
