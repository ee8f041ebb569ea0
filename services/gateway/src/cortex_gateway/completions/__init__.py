"""OpenAI-compatible /v1/chat/completions: proxy, measurement, persistence, usage events."""
