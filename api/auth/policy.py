"""Who may do what: the scopes, the roles that hold them, and the route → scopes table.

Every route declares its scopes with a dependency (`api.auth.deps.requires`, or `open_access` for the
few routes anyone may call); `ROUTE_SCOPES` below is the same policy as one reviewed table, and
``tests/api/test_auth_routes.py`` fails when the two disagree or when a route declares nothing. The
README's "Identities and roles" table is `route_table_markdown()`.

A route's scopes must all be held (FastAPI ``Security`` semantics). Anonymous requests act as the
``public`` role, but only on routes whose scopes the public role holds; everywhere else they get 401.
Two scopes refine what a route returns instead of guarding it: without ``aggregates:fine`` the H3
resolution of cells, hotspots and the cells layer is capped (`PUBLIC_MAX_RES`) and thinly populated
cells are left out; ``reports:read`` shows the words of one's own reports and ``reports:all`` of every
report (the public view of Open311 requests leaves them out).
"""

from __future__ import annotations

from typing import Final

#: Every scope and what it allows.
SCOPES: Final[dict[str, str]] = {
    "events:write": "send camera events (one or a batch), camera heartbeats and traffic counts",
    "events:read": "read individual events, the live stream (SSE) and NGSI-LD entities",
    "aggregates:read": "live counts per H3 cell and hotspots (coarse unless aggregates:fine)",
    "aggregates:fine": "the full H3 resolution for cells, hotspots and the cells layer",
    "layers:read": "the city model's layers (wards, roads, cameras registry, H3 cells)",
    "services:read": "the Open311 service list",
    "cameras:read": "the camera fleet with live status and its history",
    "alerts:read": "alerts raised by the rules",
    "alerts:write": "acknowledge and resolve alerts",
    "incidents:read": "the incident worklist, city units and evidence snapshots (a unit key: its own)",
    "incidents:write": "change an incident's status, add notes and photos",
    "incidents:assign": "assign incidents to city units",
    "reports:create": "submit citizen reports (Open311)",
    "reports:public": "read citizen reports in the public view (no words, address, photo or contact)",
    "reports:read": "see the words (description, address, photo link) of one's own reports",
    "reports:all": "see the words of every citizen report, not only one's own",
    "reports:update": "set a report's status and notes",
    "contacts:read": "read a reporter's contact details (personal data)",
    "stats:read": "service counters (ingest, store, stream)",
    "scenarios:read": "list scenario jobs and download their results",
    "scenarios:write": "submit and cancel scenario jobs",
    "calibration:run": "start traffic calibration jobs on the stored counts",
    "forecast:read": "the next-hour traffic forecast (links, H3 cells, its baselines and error)",
    "keys:admin": "create, list and revoke API keys",
    "retention:purge": "run the retention purge",
}

_PUBLIC: Final = frozenset({"aggregates:read", "layers:read", "services:read", "reports:public"})

#: Role → scopes. ``public`` is also what an anonymous request gets on public routes.
ROLES: Final[dict[str, frozenset[str]]] = {
    "camera-gateway": frozenset({"events:write"}),
    "public": _PUBLIC,
    "reporter": _PUBLIC | {"reports:create", "reports:read"},
    "operator": _PUBLIC
    | {
        "aggregates:fine",
        "events:read",
        "cameras:read",
        "alerts:read",
        "alerts:write",
        "incidents:read",
        "incidents:write",
        "incidents:assign",
        "reports:create",
        "reports:read",
        "reports:all",
        "reports:update",
        "contacts:read",
        "stats:read",
        "scenarios:read",
        "calibration:run",
        "forecast:read",
    },
    "unit": _PUBLIC | {"incidents:read", "incidents:write"},
    "planner": _PUBLIC
    | {"aggregates:fine", "cameras:read", "stats:read", "scenarios:read", "scenarios:write"}
    | {"calibration:run", "forecast:read"},
    "admin": frozenset(SCOPES),
}

#: What each role is for (CLI help, README).
ROLE_HELP: Final[dict[str, str]] = {
    "camera-gateway": "a machine that sends camera detections, heartbeats and traffic counts; reads nothing",
    "public": "anyone: coarse live aggregates, hotspots and the city layers (no key needed)",
    "reporter": "a citizen app user: submits reports and reads their own",
    "operator": "IOC staff: live events, stream, cameras, alerts, reports and citizen contacts",
    "unit": "staff of a city unit (ward police, urban order, environment…): their unit's incidents",
    "planner": "planners: scenarios and briefings, live aggregates at full resolution",
    "admin": "everything, including API keys and the retention purge",
}

#: Roles `twin keys create` can issue (``public`` needs no key).
KEY_ROLES: Final = tuple(r for r in ROLES if r != "public")

#: Open routes: no credentials are checked (liveness, the viewer's files and config, login).
OPEN: Final = None

#: The policy: "METHOD /path" → the scopes the route requires (`OPEN` for none).
ROUTE_SCOPES: Final[dict[str, tuple[str, ...] | None]] = {
    "GET /health": OPEN,
    "GET /": OPEN,
    "GET /assets/{name}": OPEN,
    "GET /config": OPEN,
    "GET /login": OPEN,
    "POST /login": OPEN,
    "POST /logout": OPEN,
    "GET /auth/whoami": OPEN,
    "GET /layers": ("layers:read",),
    "GET /layers/{name}": ("layers:read",),
    "GET /cells": ("aggregates:read",),
    "GET /hotspots": ("aggregates:read",),
    "GET /open311/discovery.{fmt}": ("services:read",),
    "GET /open311/v2/services.{fmt}": ("services:read",),
    "GET /open311/v2/services/{service_code}.{fmt}": ("services:read",),
    "GET /open311/v2/requests.{fmt}": ("reports:public",),
    "GET /open311/v2/requests/{request_id}.{fmt}": ("reports:public",),
    "POST /events": ("events:write",),
    "POST /events/batch": ("events:write",),
    "POST /cameras/{camera_id}/heartbeat": ("events:write",),
    "POST /counts": ("events:write",),
    "GET /counts": ("cameras:read",),
    "GET /events": ("events:read",),
    "GET /events/{event_id}": ("events:read",),
    "GET /stream": ("events:read",),
    "GET /ngsi-ld/v1/entities": ("events:read",),
    "GET /ngsi-ld/v1/entities/{entity_id}": ("events:read",),
    "GET /ngsi-ld/v1/context.jsonld": OPEN,
    "GET /cameras": ("cameras:read",),
    "GET /cameras/summary": ("cameras:read",),
    "GET /alerts": ("alerts:read",),
    "POST /alerts/{alert_id}/ack": ("alerts:write",),
    "POST /alerts/{alert_id}/resolve": ("alerts:write",),
    "GET /incidents": ("incidents:read",),
    "GET /incidents/labels": ("incidents:read",),
    "GET /units": ("incidents:read",),
    "GET /incidents/{incident_id}": ("incidents:read",),
    "POST /incidents/{incident_id}/status": ("incidents:write",),
    "POST /incidents/{incident_id}/assign": ("incidents:assign",),
    "POST /incidents/{incident_id}/notes": ("incidents:write",),
    "POST /incidents/{incident_id}/snapshots": ("incidents:write",),
    "POST /events/{event_id}/snapshot": ("events:write",),
    "GET /snapshots/{snapshot_id}": ("incidents:read",),
    "POST /open311/v2/requests.{fmt}": ("reports:create",),
    "POST /open311/v2/requests/{request_id}/updates.json": ("reports:update",),
    "GET /open311/v2/requests/{request_id}/contact.json": ("contacts:read",),
    "GET /stats": ("stats:read",),
    "GET /scenarios": ("scenarios:read",),
    "POST /scenarios": ("scenarios:write",),
    "GET /scenarios/{job_id}": ("scenarios:read",),
    "POST /scenarios/{job_id}/cancel": ("scenarios:write",),
    "GET /scenarios/{job_id}/layers/{name}": ("scenarios:read",),
    "GET /scenarios/{job_id}/tables/{name}": ("scenarios:read",),
    "GET /scenarios/{a}/compare/{b}": ("scenarios:read",),
    "GET /scenarios/{a}/compare/{b}/layers/{name}": ("scenarios:read",),
    "POST /calibrations": ("calibration:run",),
    "GET /calibrations/{job_id}": ("scenarios:read",),
    "GET /calibrations/{job_id}/files/{name}": ("scenarios:read",),
    "GET /forecast": ("forecast:read",),
    "GET /auth/keys": ("keys:admin",),
    "POST /auth/keys": ("keys:admin",),
    "POST /auth/keys/{key_id}/revoke": ("keys:admin",),
    "POST /admin/purge": ("retention:purge",),
}

#: Public requests get at most this H3 resolution (res 8: cells of ~0.7 km², ~460 m across).
PUBLIC_MAX_RES: Final = 8
#: Public requests do not see cells with fewer events than this in the window.
PUBLIC_MIN_COUNT: Final = 3


def is_public(scopes: tuple[str, ...] | frozenset[str] | None) -> bool:
    """Return whether anonymous requests may call a route with these scopes."""
    return scopes is None or set(scopes) <= ROLES["public"]


def roles_with(scopes: tuple[str, ...] | frozenset[str]) -> list[str]:
    """Return the roles that hold every one of `scopes` (for "use a key of role …" hints)."""
    return [r for r, held in ROLES.items() if set(scopes) <= held]


def route_table_markdown() -> str:
    """Return `ROUTE_SCOPES` as the README's Markdown table (route, scopes, roles)."""
    lines = ["| Route | Scopes | Roles |", "|---|---|---|"]
    for route, scopes in ROUTE_SCOPES.items():
        if scopes is None:
            lines.append(f"| `{route}` | open | anyone |")
            continue
        roles = ", ".join(r if r != "public" else "public (anonymous)" for r in roles_with(scopes))
        lines.append(f"| `{route}` | {', '.join(f'`{s}`' for s in scopes)} | {roles} |")
    return "\n".join(lines)
