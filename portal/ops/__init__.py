"""Running the portal in production: request context for logs, metrics, readiness, heartbeat.

- `context`: the current request's id and user, for log lines (`RequestContextMiddleware`
  sets them, `RequestContextFilter` adds them to every log record).
- `metrics`: Prometheus metrics beside django-prometheus's own, and the protected `/metrics`.
- `health`: the readiness checks behind `/health/ready/` (the worker's heartbeat itself is
  `portal.heartbeat`, in the core, so the worker can write it).
"""
