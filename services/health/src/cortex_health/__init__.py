"""Health service: polls model servers and publishes their health with a TTL."""
