"""The Celery executor: workers on other machines reached through Redis (broker, progress, results)."""
