"""The one place that speaks NATS protocols: responders and the query client (`responder`,
`query`, `wire`), durable consumers and parking (`consumer`, `pull`, `parking`), stream readers
for replays (`reader`), the event store (`jetstream`, `kv`), and a service's life (`service`).
It takes callbacks and never imports a service."""
