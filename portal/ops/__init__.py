"""Running the portal in production: request context for logs, metrics, readiness, heartbeat.

- `context`: the current request's id and user, for log lines (`RequestContextMiddleware`
  sets them, `RequestContextFilter` adds them to every log record).
- `metrics`: Prometheus metrics beside django-prometheus's own, and the protected `/metrics`.
- `health`: the readiness checks behind `/health/ready/`.
- `heartbeat`: the worker's "still alive" mark in the shared cache.
"""
