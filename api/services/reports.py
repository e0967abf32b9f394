"""Citizen reports (Open311 GeoReport v2): the service list, submission, public views, operator updates."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from api.errors import NotFound
from api.responses import dumps
from api.schemas import categories
from api.schemas.open311 import RequestIn, RequestUpdate, Service
from api.services.bus import Message
from api.services.live import LiveService
from api.store.base import ReportRecord, now_utc
from twin import h3grid
from twin.errors import InputError, OutOfCityError


class _Services(Mapping[str, tuple[str, str, str, str, str]]):
    """Services citizens can report: code → (Vietnamese name, English name, group, agency, keywords).

    A view of the category table's rows with an ``open311`` table (api/schemas/categories.toml).
    """

    def _rows(self) -> dict[str, categories.CategoryRow]:
        return {r.code: r for r in categories.table().services}

    def __getitem__(self, code: str) -> tuple[str, str, str, str, str]:
        r = self._rows()[code]
        if r.open311 is None:  # never: the services are the rows with an open311 table
            raise KeyError(code)
        return r.vi, r.en, r.open311.group, r.open311.agency, r.open311.keywords

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows())

    def __len__(self) -> int:
        return len(self._rows())


SERVICES = _Services()


#: GeoReport attributes asked of every service: code → (Vietnamese, English, datatype, values).
#: ``values`` are (key, Vietnamese name, English name) for list datatypes; none is required.
COMMON_ATTRIBUTES: dict[str, tuple[str, str, str, tuple[tuple[str, str, str], ...]]] = {
    "severity": (
        "Mức độ",
        "How serious",
        "singlevaluelist",
        (
            ("minor", "Nhẹ", "Minor"),
            ("serious", "Nghiêm trọng", "Serious"),
            ("dangerous", "Nguy hiểm", "Dangerous"),
        ),
    ),
    "ongoing": (
        "Vẫn đang diễn ra?",
        "Still happening?",
        "singlevaluelist",
        (("yes", "Có", "Yes"), ("no", "Không", "No")),
    ),
}


def service_list() -> list[Service]:
    """Return the GeoReport service list (names in Vietnamese and English)."""
    return [
        Service(
            service_code=code,
            service_name=f"{vi} / {en}",
            service_name_vi=vi,
            service_name_en=en,
            description=f"{vi} ({en}). Xử lý bởi / handled by: {agency}.",
            metadata=bool(COMMON_ATTRIBUTES),
            keywords=kw,
            group=group,
        )
        for code, (vi, en, group, agency, kw) in SERVICES.items()
    ]


def service_definition(code: str) -> dict[str, Any]:
    """Return GeoReport's service definition of `code` (its attributes); `NotFound` if unknown."""
    if code not in {s.service_code for s in service_list()}:
        raise NotFound("service", code)
    return {
        "service_code": code,
        "attributes": [
            {
                "variable": True,
                "code": key,
                "datatype": datatype,
                "required": False,
                "datatype_description": None,
                "order": order,
                "description": f"{vi} / {en}",
                "values": [{"key": k, "name": f"{v_vi} / {v_en}"} for k, v_vi, v_en in values],
            }
            for order, (key, (vi, en, datatype, values)) in enumerate(COMMON_ATTRIBUTES.items(), 1)
        ],
    }


def check_attributes(code: str, given: dict[str, str]) -> dict[str, str]:
    """Return the answers to a service's attributes; `InputError` naming ``attribute[code]`` if bad."""
    known = {a["code"]: a for a in service_definition(code)["attributes"]}
    for key, value in given.items():
        field = f"attribute[{key}]"
        if key not in known:
            raise InputError(field, f"{code} has no attribute {key!r}; known: {', '.join(known) or 'none'}")
        allowed = [v["key"] for v in known[key]["values"]]
        if allowed and value not in allowed:
            raise InputError(field, f"must be one of {', '.join(allowed)}")
    missing = [k for k, a in known.items() if a["required"] and k not in given]
    if missing:
        raise InputError(f"attribute[{missing[0]}]", "is required for this service")
    return dict(given)


def public_view(r: ReportRecord, *, full: bool = True) -> dict[str, Any]:
    """Return a report as GeoReport's public JSON: no contact, position coarsened to its cell centre.

    Without `full` (anyone may read it) the citizen's own words are left out too: no description,
    address, photo link or attribute answers, which can name or show people.
    """
    vi, en, _, _, _ = SERVICES.get(r.service_code, (r.service_code, r.service_code, "", "", ""))
    lat, lon = h3grid.cell_to_latlng(h3grid.hex_of(r.cell))
    return {
        "service_request_id": r.request_id,
        "status": r.status,
        "status_notes": r.status_notes,
        "service_name": f"{vi} / {en}",
        "service_code": r.service_code,
        "description": r.description if full else None,
        "agency_responsible": r.agency_responsible,
        "service_notice": None,
        "requested_datetime": r.requested_at,
        "updated_datetime": r.updated_at,
        "expected_datetime": None,
        "address": r.address if full else None,
        "address_id": None,
        "zipcode": None,
        "lat": round(lat, 6),
        "long": round(lon, 6),
        "ward_code": r.ward_code,
        "media_url": r.media_url if full else None,
        "synthetic": r.synthetic,
    }


def _publish(live: LiveService, r: ReportRecord) -> None:
    view = public_view(r)
    view["requested_datetime"] = r.requested_at.isoformat()
    view["updated_datetime"] = r.updated_at.isoformat()
    live.bus.publish(
        Message("report", dumps(view).decode(), r.service_code, r.ward_code, view["long"], view["lat"])
    )


async def submit(live: LiveService, req: RequestIn) -> ReportRecord:
    """Validate a citizen report against the city, store it durably and publish it on the stream."""
    if req.service_code not in SERVICES:
        raise InputError(
            "service_code",
            f"unknown service {req.service_code!r}; known: {', '.join(SERVICES)}",
            hint="list them with GET /open311/v2/services.json",
        )
    attributes = check_attributes(req.service_code, req.attributes)
    if req.lat is None or req.long is None:
        found = live.ctx.locate_address(req.address_string or "")
        if found is None:
            raise InputError(
                "address_string",
                "names no single ward of Lạng Sơn city; without lat/long the address must name one",
                hint="send lat and long, or name the ward (e.g. Phường Đông Kinh)",
            )
        x, y, ward = found
        lon, lat = np.array([x]), np.array([y])
    else:
        lon, lat = np.array([req.long]), np.array([req.lat])
        if not live.ctx.near_city(lon, lat)[0]:
            raise OutOfCityError("lat/long", "lies outside Lạng Sơn city and its neighbouring communes")
        ward = live.ctx.ward_of(lon, lat)[0]
    cell = int(h3grid.latlng_to_cells(lat, lon, live.res)[0])
    contact: dict[str, str] = {}
    if req.consent:
        for key in ("email", "first_name", "last_name", "phone", "device_id"):
            value = getattr(req, key)
            if value:
                contact[key] = str(value)
    now = now_utc()
    _, _, _, agency, _ = SERVICES[req.service_code]
    rec = ReportRecord(
        request_id="LS-" + now.strftime("%Y%m%d") + "-" + uuid.uuid4().hex[:8],
        service_code=req.service_code,
        status="open",
        description=req.description,
        lon=float(lon[0]),
        lat=float(lat[0]),
        cell=cell,
        ward_code=ward,
        address=req.address_string,
        requested_at=now,
        updated_at=now,
        agency_responsible=agency,
        contact=contact,
        synthetic=req.synthetic,
        media_url=req.media_url,
        attributes=attributes,
    )
    saved = await asyncio.wrap_future(live.store.submit_report(rec))
    live.stats.reports += 1
    saved = await live.incidents.on_report(saved)  # grouped and routed: agency_responsible set
    _publish(live, saved)
    return saved


async def update(live: LiveService, request_id: str, upd: RequestUpdate) -> ReportRecord:
    """Apply an operator's status update durably and publish it."""
    r = await asyncio.to_thread(live.store.get_report, request_id)
    if r is None:
        raise NotFound("service request", request_id)
    new = replace(
        r,
        status=upd.status,
        status_notes=upd.status_notes if upd.status_notes is not None else r.status_notes,
        agency_responsible=upd.agency_responsible or r.agency_responsible,
        updated_at=now_utc(),
    )
    saved = await asyncio.wrap_future(live.store.submit_report(new))
    _publish(live, saved)
    return saved
