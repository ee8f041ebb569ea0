from prometheus_client import Counter, Histogram

EVENTS_APPLIED = Counter(
    "cortex_sessions_events_total", "Chat events handled by the projection", ["outcome"]
)
QUERY_SECONDS = Histogram("cortex_sessions_query_seconds", "Session query latency", ["query"])
REPLICA_READS = Counter(
    "cortex_sessions_replica_reads_total",
    "Lists and gets of a service with a read replica, by the database that answered",
    ["database"],
)
