"""Admin API: everything under /admin requires the admin role."""
