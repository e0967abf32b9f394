"""The composition root: FastAPI app factory, settings, routes, services, the event store and the CLI."""
