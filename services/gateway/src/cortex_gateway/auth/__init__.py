"""Accounts, login sessions, CSRF and API keys."""
