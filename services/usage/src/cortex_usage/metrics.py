from prometheus_client import Counter, Histogram

EVENTS = Counter(
    "cortex_usage_events_total",
    "Usage events handled by the recorder",
    ["outcome"],  # recorded | duplicate | dead_lettered
)
BATCH_SIZE = Histogram(
    "cortex_usage_batch_events",
    "Readable events per stored batch",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000),
)
QUERY_SECONDS = Histogram("cortex_usage_query_seconds", "Usage query latency", ["kind"])
