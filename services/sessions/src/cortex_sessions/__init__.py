"""Sessions service: projects chat events into PostgreSQL and answers session queries."""
