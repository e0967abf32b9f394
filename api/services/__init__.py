"""Services behind the routes: the live IOC state (ingest, counts, stream, camera health, alerts, reports)."""
