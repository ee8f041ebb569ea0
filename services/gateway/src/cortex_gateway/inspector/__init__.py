"""The inspector: presets and the checks kept with a chat (events/inspector.py)."""
