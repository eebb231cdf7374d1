"""Operations: Prometheus metrics, health checks, structured logs and the admins' statistics chart."""
