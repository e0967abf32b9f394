// Normalise what the API sends (GeoJSON features or plain records) into the few shapes the map
// draws, and hold the event history that the time slider replays. H3 cells are the server's: the
// viewer never indexes a position itself, it draws the ring each cell came with.

/** Ring (closed, [lon, lat] pairs) of every H3 cell the server sent, by cell id. */
const RINGS = new Map();
const CELL_ID = /^[0-9a-f]{15}$/;

/** Remember the ring of a cell (from a Polygon feature or an event's cell_boundary). */
export function rememberRing(cell, ring) {
  if (cell && Array.isArray(ring) && ring.length >= 4 && !RINGS.has(cell)) RINGS.set(cell, ring);
}

/** Return the ring of a cell the server sent, or null. */
export function ringOf(cell) {
  return RINGS.get(cell) ?? null;
}

/** Return the [lon, lat] centre of a ring (mean of its vertices, the closing one left out). */
export function ringCentre(ring) {
  const n = ring.length - 1;
  let x = 0;
  let y = 0;
  for (let i = 0; i < n; i += 1) {
    x += ring[i][0];
    y += ring[i][1];
  }
  return [x / n, y / n];
}

/** The category table (GET /config `categories`): code → row {vi, en, color "#rrggbb", icon, camera, …}. */
const CATEGORY_ROWS = new Map();

/** Take the category table the server sends; colours, labels and the legend follow it. */
export function setCategories(rows) {
  CATEGORY_ROWS.clear();
  for (const r of rows ?? []) CATEGORY_ROWS.set(r.code, r);
}

/** Return the row of a category, or undefined. */
export function categoryRow(cat) {
  return CATEGORY_ROWS.get(cat);
}

/** Return the codes of the event categories (cameras detect them), in table order. */
export function eventCategories() {
  return [...CATEGORY_ROWS.values()].filter((r) => r.camera).map((r) => r.code);
}

/** Return the colour (RGB) of a category; one the table lacks gets a stable colour from its name. */
export function categoryColor(cat) {
  const row = CATEGORY_ROWS.get(cat);
  if (row) return [1, 3, 5].map((i) => parseInt(row.color.slice(i, i + 2), 16));
  let h = 0;
  for (const ch of String(cat)) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return [80 + (h % 150), 80 + ((h >> 8) % 150), 80 + ((h >> 16) % 150)];
}

export const CAMERA_COLORS = {
  online: [0, 200, 83],
  offline: [229, 57, 53],
  not_connected: [144, 164, 174],
};

/** Road classes, most important first: colour and width in pixels. */
export const ROAD_STYLE = {
  trunk: ["#e8590c", 4.5],
  primary: ["#f59f00", 3.2],
  secondary: ["#fcc419", 2.4],
  tertiary: ["#ced4da", 1.8],
  residential: ["#adb5bd", 1.0],
  service: ["#868e96", 0.7],
};

function parseTime(v) {
  if (v === null || v === undefined || v === "") return NaN;
  if (typeof v === "number") return v < 1e12 ? v * 1000 : v; // seconds or milliseconds since epoch
  const s = String(v);
  // Naive ISO strings are UTC in this system (storage is UTC).
  return Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(s) ? s : `${s}Z`);
}

function unwrap(x) {
  if (x && typeof x === "object" && !x.geometry && !("lon" in x) && !("lat" in x)) {
    for (const k of ["feature", "event", "data", "payload", "alert", "camera", "report"]) {
      if (x[k] && typeof x[k] === "object") return x[k];
    }
  }
  return x;
}

/** Return [lon, lat] of a feature or record, or null. */
export function position(x) {
  if (!x) return null;
  const g = x.geometry;
  if (g && g.type === "Point") return g.coordinates.slice(0, 2);
  const p = x.properties ?? x;
  const lon = p.lon ?? p.lng ?? p.long ?? p.longitude;
  const lat = p.lat ?? p.latitude;
  if (lon === undefined || lat === undefined || lon === null || lat === null) return null;
  return [Number(lon), Number(lat)];
}

/** Normalise an event (GeoJSON Feature or record, possibly wrapped) into {id, ts, category, …}. */
export function normEvent(raw) {
  const x = unwrap(raw);
  const p = { ...(x.properties ?? x) };
  const pos = position(x);
  if (!pos || !Number.isFinite(pos[0]) || !Number.isFinite(pos[1])) return null;
  const ts = parseTime(p.start_time ?? p.ts ?? p.time ?? p.observed_at ?? p.occurred_at ?? p.timestamp ?? p.created_at
    ?? p.received_at);
  const cell = typeof p.cell === "string" && CELL_ID.test(p.cell) ? p.cell : null;
  rememberRing(cell, p.cell_boundary);
  delete p.cell_boundary;
  return {
    ...p,
    cell,
    id: String(p.id ?? p.event_id ?? x.id ?? `${pos[0]},${pos[1]},${ts}`),
    ts: Number.isFinite(ts) ? ts : Date.now(),
    category: p.category ?? p.kind ?? p.type ?? "other",
    camera_id: p.camera_id ?? p.camera ?? null,
    ward_code: p.ward_code ?? p.ward ?? null,
    position: pos,
  };
}

/** Normalise an Open311 service request (GeoReport v2) or a report stream message. */
export function normReport(raw) {
  const x = unwrap(raw);
  const p = { ...(x.properties ?? x) };
  const pos = position(x);
  if (!pos || !Number.isFinite(pos[0])) return null;
  return {
    ...p,
    id: String(p.service_request_id ?? p.id ?? x.id),
    ts: parseTime(p.requested_datetime ?? p.ts ?? p.time ?? p.created_at),
    position: pos,
  };
}

/** Normalise an alert record into {id, ts, title, severity, acked, position|null, …}. */
export function normAlert(raw) {
  const x = unwrap(raw);
  const p = { ...(x.properties ?? x) };
  const status = p.status ?? (p.acknowledged || p.acked ? "acknowledged" : "open");
  return {
    ...p,
    id: String(p.id ?? p.alert_id ?? x.id),
    ts: parseTime(p.created_at ?? p.ts ?? p.time ?? p.raised_at ?? p.opened_at),
    title: p.title ?? p.message ?? p.summary ?? p.rule ?? p.category ?? "alert",
    severity: p.severity ?? p.level ?? "",
    status: String(status),
    position: position(x),
  };
}

/** Return the list of features of a FeatureCollection, a list, or {items|results|alerts: […]}. */
export function itemsOf(doc) {
  if (!doc) return [];
  if (Array.isArray(doc)) return doc;
  if (Array.isArray(doc.features)) return doc.features;
  for (const k of ["items", "results", "alerts", "runs", "scenarios", "data", "requests", "layers"]) {
    if (Array.isArray(doc[k])) return doc[k];
  }
  return [];
}

/** Return the H3 cell of a cell feature (property or id) and remember its ring; null when there is none. */
export function cellOf(f) {
  const p = f.properties ?? f;
  const c = [p.cell, p.h3, p.h3_index, p.hex, f.id].find((v) => typeof v === "string" && CELL_ID.test(v));
  if (!c) return null;
  const g = f.geometry;
  if (g && g.type === "Polygon") rememberRing(c, g.coordinates[0]);
  return c;
}

/** Return the numeric value to show for a feature, trying `keys` in order. */
export function numberOf(p, keys) {
  for (const k of keys) {
    const v = p[k];
    if (v !== undefined && v !== null && v !== "" && Number.isFinite(Number(v))) return Number(v);
  }
  return NaN;
}

/**
 * The events of the last hours, sorted by time, with each one's H3 cell (the server's): what the time
 * slider replays. Counting the events of a window is one binary search plus one pass over that window.
 */
export class EventHistory {
  constructor() {
    this.events = [];
    this.ids = new Set();
  }

  /** Add events (normalised); keep time order; ignore ones already held. Return how many were new. */
  add(list) {
    let added = 0;
    let sorted = true;
    for (const e of list) {
      if (!e || this.ids.has(e.id)) continue;
      this.ids.add(e.id);
      const last = this.events[this.events.length - 1];
      if (last && e.ts < last.ts) sorted = false;
      this.events.push(e);
      added += 1;
    }
    if (!sorted) this.events.sort((a, b) => a.ts - b.ts);
    return added;
  }

  get size() {
    return this.events.length;
  }

  /** Return [first, last] event time (ms), or null when empty. */
  span() {
    if (!this.events.length) return null;
    return [this.events[0].ts, this.events[this.events.length - 1].ts];
  }

  _lower(ts) {
    let lo = 0;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.events[mid].ts < ts) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Return the events in [t0, t1] of `category` (all when empty). */
  between(t0, t1, category = "") {
    const out = [];
    for (let i = this._lower(t0); i < this.events.length && this.events[i].ts <= t1; i += 1) {
      const e = this.events[i];
      if (!category || e.category === category) out.push(e);
    }
    return out;
  }

  /** Return [{cell, count, position}] of the events in [t0, t1] of `category` that have a drawn cell. */
  cells(t0, t1, category = "") {
    const counts = new Map();
    for (const e of this.between(t0, t1, category)) {
      if (e.cell && RINGS.has(e.cell)) counts.set(e.cell, (counts.get(e.cell) ?? 0) + 1);
    }
    return [...counts].map(([cell, count]) => ({ cell, count, position: ringCentre(RINGS.get(cell)) }));
  }

  /** Return the most recent events of a camera, newest first. */
  ofCamera(cameraId, n = 8) {
    const out = [];
    for (let i = this.events.length - 1; i >= 0 && out.length < n; i -= 1) {
      if (this.events[i].camera_id === cameraId) out.push(this.events[i]);
    }
    return out;
  }

  /** Drop events older than `ts` (keeps memory bounded during a long shift). */
  dropBefore(ts) {
    const i = this._lower(ts);
    if (i === 0) return;
    for (const e of this.events.slice(0, i)) this.ids.delete(e.id);
    this.events = this.events.slice(i);
  }
}
