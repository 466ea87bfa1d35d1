-- Proxy failover control plane: the seed's five tables made multi-tenant and constraint-checked,
-- plus the proxy aggregate (owner, active instance, sweep schedule) and the notification outbox.

CREATE TABLE proxies (
    proxy_id            text PRIMARY KEY CHECK (proxy_id ~ '^[A-Za-z0-9._:-]{1,255}$'),
    owner_id            text NOT NULL CHECK (owner_id <> ''),
    active_instance_id  uuid,
    -- The sweep claims a proxy when this is due and moves it one interval on.
    next_check_at       timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX proxies_owner_idx ON proxies (owner_id);
CREATE INDEX proxies_due_idx ON proxies (next_check_at);

CREATE TABLE proxy_failover_configurations (
    proxy_id                       text PRIMARY KEY REFERENCES proxies (proxy_id) ON DELETE CASCADE,
    failover_strategy              text NOT NULL DEFAULT 'priority'
        CHECK (failover_strategy IN ('priority', 'round_robin', 'least_connections')),
    health_check_interval_seconds  integer NOT NULL DEFAULT 30 CHECK (health_check_interval_seconds BETWEEN 1 AND 86400),
    health_check_timeout_seconds   integer NOT NULL DEFAULT 5 CHECK (health_check_timeout_seconds >= 1),
    unhealthy_threshold            integer NOT NULL DEFAULT 3 CHECK (unhealthy_threshold BETWEEN 1 AND 1000),
    healthy_threshold              integer NOT NULL DEFAULT 2 CHECK (healthy_threshold BETWEEN 1 AND 1000),
    max_recovery_attempts          integer NOT NULL DEFAULT 3 CHECK (max_recovery_attempts BETWEEN 1 AND 1000),
    recovery_backoff_seconds       integer NOT NULL DEFAULT 5 CHECK (recovery_backoff_seconds BETWEEN 1 AND 86400),
    enable_auto_failover           boolean NOT NULL DEFAULT true,
    enable_auto_recovery           boolean NOT NULL DEFAULT true,
    enable_load_balancing          boolean NOT NULL DEFAULT false,
    load_balancing_algorithm       text NOT NULL DEFAULT 'round_robin'
        CHECK (load_balancing_algorithm IN ('round_robin', 'least_connections', 'weighted')),
    failback_hold_down_seconds     integer NOT NULL DEFAULT 60 CHECK (failback_hold_down_seconds BETWEEN 0 AND 86400),
    flap_threshold                 integer NOT NULL DEFAULT 4 CHECK (flap_threshold BETWEEN 2 AND 1000),
    flap_window_seconds            integer NOT NULL DEFAULT 300 CHECK (flap_window_seconds BETWEEN 1 AND 86400),
    created_at                     timestamptz NOT NULL DEFAULT now(),
    updated_at                     timestamptz NOT NULL DEFAULT now(),
    -- A 1 s interval is allowed with a 1 s timeout; the probe then stops at 90% of the interval.
    CONSTRAINT timeout_below_interval CHECK (
        health_check_timeout_seconds < health_check_interval_seconds
        OR (health_check_interval_seconds = 1 AND health_check_timeout_seconds = 1))
);

CREATE TABLE proxy_instances (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    proxy_id               text NOT NULL REFERENCES proxies (proxy_id) ON DELETE CASCADE,
    instance_name          text NOT NULL CHECK (length(instance_name) BETWEEN 1 AND 255),
    instance_type          text NOT NULL DEFAULT 'standard' CHECK (length(instance_type) BETWEEN 1 AND 64),
    priority               integer NOT NULL DEFAULT 100 CHECK (priority BETWEEN 0 AND 1000000),
    weight                 integer NOT NULL DEFAULT 100 CHECK (weight BETWEEN 0 AND 1000000),
    health_check_url       text CHECK (length(health_check_url) <= 2048),
    health_status          text NOT NULL DEFAULT 'unknown' CHECK (health_status IN ('unknown', 'healthy', 'unhealthy')),
    consecutive_failures   integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    consecutive_successes  integer NOT NULL DEFAULT 0 CHECK (consecutive_successes >= 0),
    last_health_check      timestamptz,
    last_status_change     timestamptz,
    last_latency_ms        double precision,
    connection_count       integer CHECK (connection_count >= 0),
    status_changes         timestamptz[] NOT NULL DEFAULT '{}',
    is_flapping            boolean NOT NULL DEFAULT false,
    recovery_attempts      integer NOT NULL DEFAULT 0 CHECK (recovery_attempts >= 0),
    next_recovery_at       timestamptz,
    needs_attention        boolean NOT NULL DEFAULT false,
    created_at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT instance_name_unique_per_proxy UNIQUE (proxy_id, instance_name),
    CONSTRAINT instance_belongs_to_proxy UNIQUE (proxy_id, id)
);
CREATE INDEX proxy_instances_list_idx ON proxy_instances (proxy_id, priority, weight DESC, created_at);

-- The active instance is one of the proxy's own instances (checked at commit).
ALTER TABLE proxies
    ADD CONSTRAINT active_instance_of_proxy FOREIGN KEY (proxy_id, active_instance_id)
    REFERENCES proxy_instances (proxy_id, id) DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE proxy_instance_metrics (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance_id         uuid NOT NULL REFERENCES proxy_instances (id) ON DELETE CASCADE,
    recorded_at         timestamptz NOT NULL DEFAULT now(),
    cpu_percent         double precision CHECK (cpu_percent BETWEEN 0 AND 100),
    memory_percent      double precision CHECK (memory_percent BETWEEN 0 AND 100),
    request_rate        double precision CHECK (request_rate >= 0),
    average_latency_ms  double precision CHECK (average_latency_ms >= 0),
    error_rate          double precision CHECK (error_rate >= 0),
    connection_count    integer CHECK (connection_count >= 0),
    throughput_mbps     double precision CHECK (throughput_mbps >= 0)
);
CREATE INDEX proxy_instance_metrics_latest_idx ON proxy_instance_metrics (instance_id, recorded_at DESC);

CREATE TABLE proxy_failover_events (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    proxy_id            text NOT NULL REFERENCES proxies (proxy_id) ON DELETE CASCADE,
    event_type          text NOT NULL CHECK (event_type IN ('failover', 'failback', 'manual', 'recovery')),
    status              text NOT NULL DEFAULT 'in_progress' CHECK (status IN ('in_progress', 'completed', 'failed')),
    source_instance_id  uuid REFERENCES proxy_instances (id) ON DELETE SET NULL,
    target_instance_id  uuid REFERENCES proxy_instances (id) ON DELETE SET NULL,
    reason              text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    actor               text NOT NULL CHECK (actor <> ''),
    error_message       text CHECK (length(error_message) <= 4000),
    duration_ms         integer CHECK (duration_ms >= 0),
    started_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    completed_at        timestamptz,
    CONSTRAINT completion_matches_status CHECK ((status = 'in_progress') = (completed_at IS NULL))
);
CREATE INDEX proxy_failover_events_history_idx ON proxy_failover_events (proxy_id, started_at DESC, id DESC);
CREATE INDEX proxy_failover_events_open_recovery_idx ON proxy_failover_events (source_instance_id)
    WHERE event_type = 'recovery' AND status = 'in_progress';

CREATE TABLE proxy_redundancy_status (
    proxy_id              text PRIMARY KEY REFERENCES proxies (proxy_id) ON DELETE CASCADE,
    total_instances       integer NOT NULL CHECK (total_instances >= 0),
    healthy_instances     integer NOT NULL CHECK (healthy_instances >= 0),
    unhealthy_instances   integer NOT NULL CHECK (unhealthy_instances >= 0),
    active_instance_id    uuid,
    backup_instance_ids   uuid[] NOT NULL DEFAULT '{}',
    redundancy_level      text NOT NULL CHECK (redundancy_level IN ('none', 'single', 'dual', 'multi')),
    is_degraded           boolean NOT NULL,
    degraded_reasons      text[] NOT NULL DEFAULT '{}',
    last_failover_at      timestamptz,
    last_failover_reason  text,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CHECK (healthy_instances + unhealthy_instances <= total_instances)
);

-- Written in the same transaction as the change it announces; published after commit; retried.
CREATE TABLE notification_outbox (
    id               uuid PRIMARY KEY,
    type             text NOT NULL,
    proxy_id         text NOT NULL,
    user_id          text,
    severity         text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    message          jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    sent_at          timestamptz
);
CREATE INDEX notification_outbox_pending_idx ON notification_outbox (next_attempt_at) WHERE sent_at IS NULL;
