"""Small runtime helpers every service uses: config loading, stream setup, event publishing."""
