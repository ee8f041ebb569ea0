"""The chat-session API: commands become events on the session's subject; queries go to the
sessions service."""
