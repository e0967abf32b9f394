"""`twin gateway`: a separate process that speaks the cameras' own protocols and forwards to the twin.

Adapters (`frigate` over MQTT, `onvif` PullPoint, `isapi` alertStream) turn each source's messages into
the twin's events (`api.schemas.events.EventIn`, validated here with the very adapter the twin uses, so
a message the twin would refuse never enters the queue); `queue` keeps them durably (SQLite WAL,
``synchronous=FULL``) before the source is acknowledged; `forwarder` sends them in order, in batches, to
``POST /events/batch`` and retries with backoff and jitter while the twin is away.

The package lives inside ``api`` only to share the event schema; it imports nothing else of the
service (no app, store, routes or auth: an import-linter contract says so), and the service imports
nothing of it except the CLI command that starts it.
"""
