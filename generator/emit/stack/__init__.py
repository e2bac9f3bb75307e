"""The deployable stack: collector, Prometheus, Loki and pint configs, docker-compose.yml."""
