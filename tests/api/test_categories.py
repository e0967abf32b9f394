"""One category table: adding a category is one edit, and every consumer sees it.

The fixture adds one ``[[category]]`` to a copy of ``api/schemas/categories.toml`` (nothing else) and
the test meets it, through HTTP on the real app, in GET /config, in the event schema (POST /events
accepts it, the OpenAPI enum lists it), in NGSI-LD, in the Open311 service list, in the briefing's
labels and in the replayer's draw. The viewer's legend is checked in Chromium
(tests/e2e/test_categories.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.briefing.text import category as briefing_label
from api.replayer import Camera, category_weights
from api.schemas import categories
from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, client, connected)
from tests.api.test_events_support import assert_error_shape, live_client
from tests.support.categories import EXTRA_CODE, installed, with_extra_category
from tests.support.events import event
from twin.city import City


def _event_enum(spec: dict[str, Any]) -> list[str]:
    body = spec["paths"]["/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return list(body["properties"]["category"]["enum"])


@pytest.fixture
def extended(city: City, tmp_path: Path, data_dir: Path) -> Iterator[TestClient]:
    """A fresh service whose category table has one more row (`EXTRA_CODE`)."""
    with (
        installed(with_extra_category(tmp_path)),
        live_client(city, tmp_path / "state", data_dir, tick_s=3600) as c,
    ):
        yield c


def test_an_added_category_reaches_every_consumer(extended: TestClient, connected: list[str]) -> None:
    c = extended
    rows = {r["code"]: r for r in c.get("/config").json()["categories"]}
    assert rows[EXTRA_CODE] == {
        "code": EXTRA_CODE, "vi": "Sạt lở đất", "en": "Landslide", "color": "#00897b", "icon": "▲",
        "severity": "high", "camera": True, "alert": {"category": "naturalDisaster"},
        "open311": {"group": "thiên tai / hazards",
                    "agency": "Ban chỉ huy phòng chống thiên tai / Disaster prevention board",
                    "keywords": "sạt lở, đất đá, landslide"},
    }  # fmt: skip

    # The event schema: accepted, stored, filtered on; the OpenAPI enum names it.
    ev = event(1, connected[0], category=EXTRA_CODE)
    r = c.post("/events", json=ev)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "created"
    page = c.get("/events", params={"category": EXTRA_CODE}).json()
    assert [f["properties"]["category"] for f in page["features"]] == [EXTRA_CODE]
    spec = c.get("/openapi.json").json()
    assert EXTRA_CODE in _event_enum(spec)

    # NGSI-LD: the row's Smart Data Models mapping.
    ent = c.get(
        f"/ngsi-ld/v1/entities/urn:ngsi-ld:Alert:{ev['event_id']}", params={"options": "keyValues"}
    ).json()
    assert ent["category"] == "naturalDisaster"
    assert "subCategory" not in ent
    assert ent["data"]["category"] == EXTRA_CODE

    # Open311: citizens can report it.
    services = {s["service_code"]: s for s in c.get("/open311/v2/services.json").json()}
    assert services[EXTRA_CODE]["service_name"] == "Sạt lở đất / Landslide"
    assert services[EXTRA_CODE]["group"] == "thiên tai / hazards"

    # The briefing's labels and the replayer's draw.
    assert briefing_label(EXTRA_CODE, "vi") == "Sạt lở đất"
    assert briefing_label(EXTRA_CODE, "en") == "Landslide"
    cam = Camera("LS-CAM-001", "corridor", "05977", 106.75, 21.85)
    weights = category_weights(cam, datetime(2025, 6, 12, 8, tzinfo=UTC))
    assert list(weights) == list(categories.table().event_codes)
    assert weights[EXTRA_CODE] > 0


def test_without_the_row_the_category_is_refused(client: TestClient, connected: list[str]) -> None:
    assert EXTRA_CODE not in {r["code"] for r in client.get("/config").json()["categories"]}
    body = assert_error_shape(client.post("/events", json=event(1, connected[0], category=EXTRA_CODE)), 422)
    assert body["detail"][0]["field"] == "category"
    assert "congestion" in body["detail"][0]["reason"]
    assert_error_shape(client.get("/events", params={"category": EXTRA_CODE}), 422, "category")
    assert EXTRA_CODE not in {s["service_code"] for s in client.get("/open311/v2/services.json").json()}


def test_the_table_is_the_one_list(client: TestClient) -> None:
    """Config, schema enum and services all come from the same rows, in table order."""
    table = categories.table()
    assert [r["code"] for r in client.get("/config").json()["categories"]] == [r.code for r in table.rows]
    spec = client.get("/openapi.json").json()
    assert _event_enum(spec) == list(table.event_codes)
    services = [s["service_code"] for s in client.get("/open311/v2/services.json").json()]
    assert services == [r.code for r in table.services]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('color = "#e6550d"', 'color = "orange"'), "category congestion: color"),
        (('code = "accident"', 'code = "congestion"'), "'congestion' is listed twice"),
        (('alert = { category = "traffic", subCategory = "trafficJam" }', 'alert = { category = "roads" }'),
         "category congestion: alert.category"),
        (('icon = "≡"\ncamera = true', 'icon = "≡"\ncameras = true'), "category congestion: cameras"),
    ],
)  # fmt: skip
def test_a_bad_row_fails_naming_the_row_and_field(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    text = categories.TABLE_FILE.read_text(encoding="utf-8").replace(*edit, 1)
    path = tmp_path / "categories.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        categories.read_table(path)
