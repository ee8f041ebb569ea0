"""Local development stack: embedded NATS JetStream and PostgreSQL, and a process supervisor."""
