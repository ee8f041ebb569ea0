from prometheus_client import Counter, Gauge, Histogram

PROBES = Counter(
    "cortex_health_probes_total", "Health checks of upstreams by outcome", ["model", "status"]
)
PROBE_SECONDS = Histogram(
    "cortex_health_probe_seconds",
    "Latency of answered liveness requests",
    ["model"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
UPSTREAM_UP = Gauge(
    "cortex_health_upstream_up", "1 when the latest check found the upstream healthy", ["model"]
)
PUBLISH_FAILURES = Counter(
    "cortex_health_publish_failures_total", "Health results that could not be stored in NATS"
)
REFRESHES = Counter("cortex_health_refresh_requests_total", "Refresh-health requests answered")
