"""The operator console: the admin API (JSON, server-sent events) and the dashboard it serves."""
