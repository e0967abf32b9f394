"""NGSI-LD renderings (normalised form) of events as Smart Data Models `Alert` and cameras as `Device`.

For cities on FIWARE: the same data as the GeoJSON routes, in the entity shape Orion-LD and other
context brokers exchange. Alert: https://github.com/smart-data-models/dataModel.Alert ;
Device: https://github.com/smart-data-models/dataModel.Device .
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import geopandas as gpd
import orjson
import shapely
import shapely.errors
import shapely.geometry

from api.schemas import categories
from api.services.city import CameraInfo
from api.services.geojson import iso
from api.services.health import CameraState
from api.store.base import AlertRecord, EventRecord
from twin.crs import METRIC, WGS84

CONTEXT = [
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Alert/master/context.jsonld",
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Device/master/context.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld",
]

#: Our severities → SDM Alert severity.
SEVERITY = {"info": "informational", "low": "low", "medium": "medium", "high": "high", "critical": "critical"}
#: Rule alerts → the category table row they are about (a rule not listed is about its camera's health).
RULE_CATEGORY = {"congestion_cluster": "congestion"}
#: What a rule alert without a camera says is its source: the twin's rule (an NGSI-LD URN).
RULE_URN = "urn:ngsi-ld:AlertRule:{rule}"


def alert_mapping(category: str) -> categories.AlertMapping:
    """Return the SDM Alert (category, subCategory) of one of our categories (table row ``alert``)."""
    row = categories.table().get(category)
    return row.alert if row is not None else categories.AlertMapping(category="security")


def _category_props(category: str) -> dict[str, Any]:
    m = alert_mapping(category)
    out = {"category": _prop(m.category)}
    if m.sub_category is not None:
        out["subCategory"] = _prop(m.sub_category)
    return out


def _prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def _when(value: str | None) -> dict[str, Any]:
    return {"type": "Property", "value": {"@type": "DateTime", "@value": value}}


def _point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}


def event_urn(event_id: str) -> str:
    """Return the NGSI-LD id of an event."""
    return f"urn:ngsi-ld:Alert:{event_id}"


def camera_urn(camera_id: str) -> str:
    """Return the NGSI-LD id of a camera."""
    return f"urn:ngsi-ld:Device:{camera_id}"


def event_entity(e: EventRecord, *, context: bool = True) -> dict[str, Any]:
    """Return an event as an SDM `Alert` entity."""
    ent: dict[str, Any] = {
        "id": event_urn(e.event_id),
        "type": "Alert",
        **_category_props(e.category),
        "severity": _prop(SEVERITY.get(e.severity, "medium")),
        "dateIssued": _when(iso(e.received_at)),
        "validFrom": _when(iso(e.start_time)),
        "location": _point(e.lon, e.lat),
        "alertSource": {"type": "Relationship", "object": camera_urn(e.camera_id)},
        "description": _prop(f"{e.category} ({e.lifecycle}), confidence {e.confidence:.2f}"),
        "data": _prop(
            {
                "category": e.category,
                "lifecycle": e.lifecycle,
                "ward_code": e.ward_code,
                "synthetic": e.synthetic,
            }
        ),
    }
    if e.end_time is not None:
        ent["validTo"] = _when(iso(e.end_time))
    if context:
        ent["@context"] = CONTEXT
    return ent


def alert_entity(a: AlertRecord, *, context: bool = True) -> dict[str, Any]:
    """Return a rule alert as an SDM `Alert` entity.

    A rule about a category (``congestion_cluster``) takes that row's mapping; one about a camera's
    health (``camera_silent``) is ``security`` with no subCategory (the model's enum has none for a
    device fault). ``alertSource`` (required) is the camera, or else the rule that raised it.
    """
    about = RULE_CATEGORY.get(a.rule)
    props = _category_props(about) if about else {"category": _prop("security")}
    source = camera_urn(a.camera_id) if a.camera_id else RULE_URN.format(rule=a.rule)
    ent: dict[str, Any] = {
        "id": f"urn:ngsi-ld:Alert:{a.alert_id}",
        "type": "Alert",
        **props,
        "severity": _prop(SEVERITY.get(a.severity, "medium")),
        "dateIssued": _when(iso(a.created_at)),
        "description": _prop(a.title),
        "data": _prop({"rule": a.rule, "status": a.status, **a.details}),
        "alertSource": {"type": "Relationship", "object": source},
    }
    if a.lon is not None and a.lat is not None:
        ent["location"] = _point(a.lon, a.lat)
    if context:
        ent["@context"] = CONTEXT
    return ent


def camera_entity(info: CameraInfo, state: CameraState, *, context: bool = True) -> dict[str, Any]:
    """Return a camera as an SDM `Device` entity (category sensor, controlled property image)."""
    ent: dict[str, Any] = {
        "id": camera_urn(info.camera_id),
        "type": "Device",
        "name": _prop(info.name),
        "category": _prop(["sensor"]),
        "controlledProperty": _prop(["image"]),
        "deviceState": _prop(state.status),
        "location": _point(info.lon, info.lat),
        "description": _prop(f"{info.kind} camera, ward {info.ward_code} (synthetic registry)"),
    }
    if state.last_seen is not None:
        ent["dateLastValueReported"] = _when(iso(state.last_seen))
    if context:
        ent["@context"] = CONTEXT
    return ent


# ------------------------------------------------------------------------------ NGSI-LD queries
#: ProblemDetails ``type`` URIs of the NGSI-LD API (ETSI GS CIM 009, "Error types").
ERROR_TYPES = {
    "InvalidRequest": 400,
    "BadRequestData": 400,
    "ResourceNotFound": 404,
    "NotAcceptable": 406,
    "TooComplexQuery": 403,
    "OperationNotSupported": 422,
}
ERROR_BASE = "https://uri.etsi.org/ngsi-ld/errors/"
#: Entity types served here.
TYPES = ("Alert", "Device")
#: Largest `limit` of one page, and how many entities a query may examine before it is too complex.
MAX_LIMIT = 1000
MAX_SCAN = 20_000
#: Query parameters of GET /entities honoured here; any other is refused (400), never ignored.
QUERY_PARAMS = frozenset(
    {"type", "id", "idPattern", "attrs", "q", "georel", "geometry", "coordinates", "geoproperty",
     "limit", "offset", "count", "options", "format"}
)  # fmt: skip
_GEOMETRIES = frozenset({"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"})
_GEORELS = frozenset({"near", "within", "contains", "intersects", "equals", "disjoint", "overlaps"})
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+$")


class NgsiError(Exception):
    """An NGSI-LD error: answered as ProblemDetails with the spec's ``type`` URI and status."""

    def __init__(self, kind: str, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.kind, self.field, self.reason = kind, field, reason
        self.status = ERROR_TYPES[kind]

    def problem(self) -> dict[str, Any]:
        """Return the ProblemDetails body (RFC 7807), naming the parameter in ``detail``."""
        return {
            "type": ERROR_BASE + self.kind,
            "title": self.kind,
            "status": self.status,
            "detail": f"{self.field}: {self.reason}",
            "field": self.field,
        }


def simplify(entity: dict[str, Any]) -> dict[str, Any]:
    """Return the simplified (``keyValues``) form of a normalised entity, as Smart Data Models
    schemas describe it: a Property its value (a DateTime its ``@value``), a Relationship its object."""
    out: dict[str, Any] = {}
    for k, v in entity.items():
        if isinstance(v, dict) and v.get("type") in ("Property", "GeoProperty", "Relationship"):
            val = v["object"] if v["type"] == "Relationship" else v["value"]
            if isinstance(val, dict) and val.get("@type") == "DateTime":
                val = val["@value"]
            out[k] = val
        else:
            out[k] = v
    return out


def check_entity_id(entity_id: str) -> str:
    """Return `entity_id` if it is a URI (an NGSI-LD entity id must be one), else raise BadRequestData."""
    if len(entity_id) > 512 or not _URI.match(entity_id):
        raise NgsiError("BadRequestData", "id", f"{entity_id[:80]!r} is not a URI (urn:ngsi-ld:<Type>:<id>)")
    return entity_id


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _int(params: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    text = params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise NgsiError("BadRequestData", name, f"{text[:40]!r} is not an integer") from None
    if not lo <= value <= hi:
        raise NgsiError("BadRequestData", name, f"must be between {lo} and {hi}")
    return value


# ---- q: the NGSI-LD query language (clause 4.9): terms joined by ";" (and) and "|" (or), with
# parentheses; a term is an attribute path (existence) or path, operator and value(s).
_TOKEN = re.compile(r'\s*(\(|\)|;|\||==|!=|>=|<=|!~=|~=|>|<|"(?:[^"\\]|\\.)*"|[^()|;=!<>~"]+)')
_OPS = frozenset({"==", "!=", ">=", "<=", ">", "<"})
_ATTR = re.compile(r"^[A-Za-z_@][A-Za-z0-9_]*(?:\[[A-Za-z0-9_]+\])*$")


@dataclass(frozen=True)
class _Term:
    path: tuple[str, ...]
    op: str | None = None
    values: tuple[Any, ...] = ()
    between: tuple[Any, Any] | None = None


@dataclass(frozen=True)
class _Node:
    op: str  # ";" or "|"
    parts: tuple[_Node | _Term, ...]


def _scalar(text: str) -> Any:
    text = text.strip()
    if text.startswith('"'):
        return text[1:-1].replace('\\"', '"')
    if text in ("true", "false"):
        return text == "true"
    try:
        return float(text)
    except ValueError:
        return text


def _values(text: str) -> tuple[tuple[Any, ...], tuple[Any, Any] | None]:
    if ".." in text and not text.strip().startswith('"'):
        lo, hi = text.split("..", 1)
        return (), (_scalar(lo), _scalar(hi))
    return tuple(_scalar(v) for v in re.findall(r'"(?:[^"\\]|\\.)*"|[^,]+', text)), None


#: Deepest nesting of parentheses in `q` (each level is a call of the recursive parser).
Q_MAX_DEPTH = 32


def parse_q(text: str) -> _Node | _Term:
    """Parse an NGSI-LD `q` expression; what the language has but this service does not (pattern
    matching ``~=``, sub-attribute paths with ``.``) is refused with BadRequestData, not ignored."""
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise NgsiError("BadRequestData", "q", f"cannot read {text[pos : pos + 20]!r}")
        if m.group(1).strip():
            tokens.append(m.group(1).strip())
        pos = m.end()
    depth = 0
    for tok in tokens:  # the parser below recurses once per "(": bound it before it runs
        depth += (tok == "(") - (tok == ")")
        if depth > Q_MAX_DEPTH:
            raise NgsiError("BadRequestData", "q", f"parentheses nested deeper than {Q_MAX_DEPTH}")
    at = 0

    def peek() -> str | None:
        return tokens[at] if at < len(tokens) else None

    def take() -> str:
        nonlocal at
        if at >= len(tokens):
            raise NgsiError("BadRequestData", "q", "ends too early")
        at += 1
        return tokens[at - 1]

    def chain(sep: str, part: Callable[[], _Node | _Term]) -> _Node | _Term:
        parts = [part()]
        while peek() == sep:
            take()
            parts.append(part())
        return parts[0] if len(parts) == 1 else _Node(sep, tuple(parts))

    def expr() -> _Node | _Term:  # "|" binds looser than ";"
        return chain("|", lambda: chain(";", atom))

    def atom() -> _Node | _Term:
        if peek() == "(":
            take()
            inner = expr()
            if take() != ")":
                raise NgsiError("BadRequestData", "q", "unbalanced parentheses")
            return inner
        attr = take()
        if "." in attr:
            raise NgsiError("BadRequestData", "q", f"sub-attribute paths ({attr!r}) are not supported here")
        if not _ATTR.match(attr):
            raise NgsiError("BadRequestData", "q", f"{attr[:40]!r} is not an attribute name")
        path = tuple(re.split(r"[\[\]]+", attr.rstrip("]")))
        op = peek()
        if op in ("~=", "!~="):
            raise NgsiError("BadRequestData", "q", "pattern matching (~=) is not supported here")
        if op not in _OPS:
            return _Term(path)
        take()
        raw = take()
        if raw in _OPS or raw in ("(", ")", ";", "|"):
            raise NgsiError("BadRequestData", "q", f"no value after {op}")
        while peek() not in (None, ";", "|", ")") and peek() not in _OPS:
            raw += take()  # a list of quoted strings: "a","b"
        values, between = _values(raw)
        if (len(values) > 1 or between) and op not in ("==", "!="):
            raise NgsiError("BadRequestData", "q", f"lists and ranges go with == or != only, not {op}")
        return _Term(path, op, values, between)

    node = expr()
    if at != len(tokens):
        raise NgsiError("BadRequestData", "q", f"unexpected {tokens[at]!r}")
    return node


def _comparable(a: Any, b: Any) -> tuple[Any, Any] | None:
    if isinstance(a, bool) or isinstance(b, bool):
        return (a, b) if isinstance(a, bool) and isinstance(b, bool) else None
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a), float(b)
    if isinstance(a, str) and isinstance(b, str):
        try:
            return datetime.fromisoformat(a), datetime.fromisoformat(b)
        except ValueError:
            return a, b
    if isinstance(a, str) and isinstance(b, float):
        return None
    return None


def _cmp(value: Any, op: str, ref: Any) -> bool:
    pair = _comparable(value, ref)
    if pair is None:
        return op == "!="
    a, b = pair
    try:
        return bool({"==": a == b, "!=": a != b, ">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b}[op])
    except TypeError:  # aware vs naive date-times
        return False


def _match_term(term: _Term, kv: dict[str, Any]) -> bool:
    value: Any = kv
    for p in term.path:
        if not isinstance(value, dict) or p not in value:
            return False
        value = value[p]
    if term.op is None:
        return True
    values = value if isinstance(value, list) else [value]
    if term.between is not None:
        lo, hi = term.between
        inside = any(_cmp(v, ">=", lo) and _cmp(v, "<=", hi) for v in values)
        return inside if term.op == "==" else not inside
    if term.op == "!=":
        return all(_cmp(v, "!=", ref) for v in values for ref in term.values)
    return any(_cmp(v, term.op, ref) for v in values for ref in term.values)


def match_q(node: _Node | _Term, kv: dict[str, Any]) -> bool:
    """Return whether a simplified entity satisfies a parsed `q`."""
    if isinstance(node, _Term):
        return _match_term(node, kv)
    hits = (match_q(p, kv) for p in node.parts)
    return all(hits) if node.op == ";" else any(hits)


@dataclass(frozen=True)
class GeoQuery:
    """A parsed ``georel`` / ``geometry`` / ``coordinates`` triple."""

    rel: str
    shape: shapely.Geometry
    max_distance: float | None = None
    min_distance: float | None = None

    def matches(self, location: dict[str, Any] | None) -> bool:
        """Return whether an entity's GeoJSON location stands in the relation (no location: False)."""
        if location is None:
            return False
        geom = shapely.geometry.shape(location)
        if self.rel == "near":
            d = _metres(geom, self.shape)
            return (self.max_distance is None or d <= self.max_distance) and (
                self.min_distance is None or d >= self.min_distance
            )
        return bool(getattr(geom, self.rel)(self.shape))


def _metres(a: shapely.Geometry, b: shapely.Geometry) -> float:
    pts = gpd.GeoSeries([a, b], crs=WGS84).to_crs(METRIC)
    return float(pts.iloc[0].distance(pts.iloc[1]))


def parse_geo(params: Mapping[str, str]) -> GeoQuery | None:
    """Return the geo-query of `params`, None without one; an incomplete or bad one is BadRequestData."""
    given = [k for k in ("georel", "geometry", "coordinates") if params.get(k)]
    if not given:
        if params.get("geoproperty"):
            raise NgsiError("BadRequestData", "geoproperty", "needs georel, geometry and coordinates")
        return None
    missing = [k for k in ("georel", "geometry", "coordinates") if k not in given]
    if missing:
        raise NgsiError("BadRequestData", missing[0], "a geo-query needs georel, geometry and coordinates")
    if params.get("geoproperty", "location") != "location":
        raise NgsiError("BadRequestData", "geoproperty", "only 'location' is a GeoProperty here")
    rel, *mods = params["georel"].split(";")
    if rel not in _GEORELS:
        raise NgsiError(
            "BadRequestData", "georel", f"unknown {rel[:40]!r}; known: {', '.join(sorted(_GEORELS))}"
        )
    kind = params["geometry"]
    if kind not in _GEOMETRIES:
        raise NgsiError(
            "BadRequestData", "geometry", f"unknown {kind[:40]!r}; known: {', '.join(sorted(_GEOMETRIES))}"
        )
    try:
        coords = orjson.loads(params["coordinates"])
        shape = shapely.geometry.shape({"type": kind, "coordinates": coords})
    except (
        orjson.JSONDecodeError,
        TypeError,
        ValueError,
        IndexError,
        KeyError,
        RecursionError,
        AttributeError,
        shapely.errors.ShapelyError,
    ):
        raise NgsiError("BadRequestData", "coordinates", f"not the coordinates of a {kind}") from None
    if shape.is_empty or not shape.is_valid:
        raise NgsiError("BadRequestData", "coordinates", f"not a valid {kind}")
    dist: dict[str, float] = {}
    for mod in mods:
        name, _, value = mod.partition("==")
        if name not in ("maxDistance", "minDistance") or rel != "near":
            raise NgsiError(
                "BadRequestData", "georel", f"{mod[:40]!r} goes with near only (maxDistance, minDistance)"
            )
        try:
            dist[name] = float(value)
        except ValueError:
            raise NgsiError("BadRequestData", "georel", f"{name} must be a number of metres") from None
        if not 0 <= dist[name] < 1e8:
            raise NgsiError("BadRequestData", "georel", f"{name} must be between 0 and 10^8 metres")
    if rel == "near" and not dist:
        raise NgsiError("BadRequestData", "georel", "near needs maxDistance==<m> or minDistance==<m>")
    return GeoQuery(rel, shape, dist.get("maxDistance"), dist.get("minDistance"))


@dataclass(frozen=True)
class EntityQuery:
    """The parsed query of GET /ngsi-ld/v1/entities."""

    types: tuple[str, ...] = ()
    ids: frozenset[str] = frozenset()
    attrs: frozenset[str] = frozenset()
    q: _Node | _Term | None = None
    geo: GeoQuery | None = None
    limit: int = 20
    offset: int = 0
    count: bool = False
    key_values: bool = False

    def matches(self, entity: dict[str, Any]) -> bool:
        """Return whether a normalised entity answers the query (type, id, attrs, q, geo)."""
        if self.types and entity["type"] not in self.types:
            return False
        if self.ids and entity["id"] not in self.ids:
            return False
        if self.attrs and not self.attrs & entity.keys():
            return False
        if self.geo is not None and not self.geo.matches((entity.get("location") or {}).get("value")):
            return False
        return self.q is None or match_q(self.q, simplify(entity))

    def render(self, entity: dict[str, Any]) -> dict[str, Any]:
        """Return `entity` as asked: only `attrs` (id and type always), simplified with keyValues."""
        if self.attrs:
            entity = {k: v for k, v in entity.items() if k in ("id", "type", "@context") or k in self.attrs}
        return simplify(entity) if self.key_values else entity


def parse_query(params: Mapping[str, str]) -> EntityQuery:
    """Check and parse the query parameters of GET /entities (NGSI-LD clause 6.4.3.2).

    Every parameter is honoured or refused with BadRequestData: an unknown one, ``idPattern``, ``q``
    features not supported here, a partial geo-query. A query needs one of ``type``, ``id``, ``attrs``,
    ``q`` or a geo-query (as the spec says); an unknown type matches nothing (200 ``[]``).
    """
    unknown = sorted(set(params) - QUERY_PARAMS)
    if unknown:
        raise NgsiError(
            "BadRequestData",
            unknown[0],
            f"not a query parameter of this API; known: {', '.join(sorted(QUERY_PARAMS))}",
        )
    if "idPattern" in params:
        raise NgsiError(
            "BadRequestData", "idPattern", "pattern matching is not supported here; list ids with id="
        )
    ids = frozenset(check_entity_id(i) for i in _csv(params.get("id", "")))
    options = set(_csv(params.get("options", "")))
    bad_opt = sorted(options - {"keyValues", "simplified", "normalized", "count"})
    if bad_opt:
        raise NgsiError(
            "BadRequestData", "options", f"unknown {bad_opt[0]!r}; known: keyValues, normalized, count"
        )
    fmt = params.get("format")
    if fmt is not None and fmt not in ("simplified", "keyValues", "normalized"):
        raise NgsiError("BadRequestData", "format", f"unknown {fmt[:40]!r}; known: normalized, simplified")
    count_text = params.get("count")
    if count_text is not None and count_text not in ("true", "false"):
        raise NgsiError("BadRequestData", "count", "must be true or false")
    q_text = params.get("q")
    query = EntityQuery(
        types=tuple(_csv(params.get("type", ""))),
        ids=ids,
        attrs=frozenset(_csv(params.get("attrs", ""))),
        q=parse_q(q_text) if q_text else None,
        geo=parse_geo(params),
        limit=_int(params, "limit", 20, 0, MAX_LIMIT),
        offset=_int(params, "offset", 0, 0, MAX_SCAN),
        count=count_text == "true" or "count" in options,
        key_values=bool(options & {"keyValues", "simplified"}) or fmt in ("simplified", "keyValues"),
    )
    if not (query.types or query.ids or query.attrs or query.q or query.geo):
        raise NgsiError(
            "BadRequestData", "type", "name the entity type (Alert, Device), id, attrs, q or a geo-query"
        )
    if query.limit == 0 and not query.count:
        raise NgsiError("BadRequestData", "limit", "0 asks for the count only: add count=true")
    return query
