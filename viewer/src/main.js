// The IOC viewer: a MapLibre base map drawn from the twin's own layers, deck.gl overlays (cameras,
// live events, H3 counts and hotspots, citizen reports, simulation results), the panels around them,
// live updates over SSE, and replay of the last hours. Test hooks: body[data-ready], window.__deck,
// window.__viewer, window.__map.
import * as maplibregl from "maplibre-gl";
import { MapboxOverlay } from "@deck.gl/mapbox";
import { ApiError, getJSON, openStream, postJSON, watchHealth } from "./api.js";
import { BASE_LAYERS, addOverOnlineStyle, offlineStyle, setBaseData, setBaseVisible } from "./basemap.js";
import { EventHistory, cellOf, eventCategories, itemsOf, normAlert, normEvent, normReport, numberOf, position,
  rememberRing, ringOf, setCategories } from "./data.js";
import { CLOSED_COLOR, DIFF_KEYS, NO_FLOW_COLOR, SPEED_KEYS, SPEED_RAMP, buildLayers, ramp, scenarioStyle } from "./layers.js";
import { fmtTime, getLang, initialLang, label, onLangChange, relabel, setLang, setTimeZone, t } from "./i18n.js";
import { TABS, banner, esc, layerOrder, renderDetails, renderFeed, renderLayerList, rerenderDetails,
  selectTab, tooltip } from "./ui.js";
import { exportGeoJSON, exportHTML, exportPNG } from "./export.js";
import { DISPLAY, FIRST_BASE, START_WINDOW } from "./startup.js";
import { incidentState, loadIncidents, onStreamIncident, openIncident, renderIncidentDetail,
  renderIncidentList } from "./incidents.js";
import { bindSearch } from "./search.js";
import { renderCameraTable } from "./cameras.js";
import { renderKpiTable, runLabel, swipeLayers } from "./planner.js";
import { AUTHOR_STRINGS, authorLayers, initAuthor, layerTitle, renderAuthor } from "./author.js";
import { addStrings } from "./i18n.js";
import { forecastLayers, forecastState, loadForecast, renderForecastPanel } from "./forecast.js";

addStrings(AUTHOR_STRINGS);

const $ = (id) => document.getElementById(id);
const HOUR = 3600 * 1000;
const WINDOWS = { "1h": HOUR, "3h": 3 * HOUR, "6h": 6 * HOUR, "24h": 24 * HOUR };
const params = new URLSearchParams(location.search);
/** ?raw=1 feeds the page raw events instead of server aggregates (the benchmark's peer). */
const RAW = params.get("raw") === "1";
/** ?view=field: the phone view for field staff (their unit's incidents, the map around one). */
const FIELD = params.get("view") === "field";

/** The whole viewer state; exposed as window.__viewer for tests and the console. */
const S = {
  ready: false,
  config: null,
  res: 9,
  visible: {
    wards_2025: true, units_pre2025: false, roads: true, river: true, cameras: true, camera_coverage: false,
    cells: true, hotspots: true, events: true, reports: true, scenario: true, compare: true,
  },
  layerStatus: {},
  current: "cells",
  base: {},
  wards: new Map(),
  wardLabels: [],
  cameras: [],
  cameraVersion: 0,
  cameraSummary: null,
  selectedCamera: null,
  coverage: null,
  serverCells: null,
  serverCellsAt: 0,
  hotspots: [],
  history: null,
  categories: [],
  category: "",
  reports: [],
  feed: [],
  alerts: new Map(),
  alertsNote: "",
  inc: incidentState(),
  forecast: forecastState(),
  /** Named streets and bridges (from the roads layer) and market/bridge sites (camera registry). */
  streets: [],
  placeLabels: [],
  zoom: 12,
  showUnconnected: false,
  field: FIELD,
  time: { mode: "live", t: Date.now(), window: START_WINDOW, playing: false, speed: 300 },
  drawnCells: [],
  drawnEvents: [],
  drawnSignature: "",
  stream: { state: "connecting", received: 0, lastEventId: null, retryAt: 0, freshAt: 0 },
  /** Who the page signed in as (GET /auth/whoami): role and scopes; null while the server is away. */
  who: null,
  api: { up: true, message: "" },
  scenario: { runs: [], run: null, layers: [], layer: null, features: [], shown: [], style: "plain",
    timeKey: null, times: [], t: null, maxSpeed: 60, playing: false, message: "" },
  compare: { with: null, cells: [], maxAbs: 1, message: "" },
  swipe: { on: false, x: 0.5, features: [], left: [], colorOf: null },
  errors: [],
  timings: {},
  /** Frames drawn until the first complete one: base map (MapLibre) and overlay (deck.gl). */
  frames: { map: 0, deck: 0 },
  /** While true, render() waits: the first set of answers reaches deck.gl as one update. */
  holdRender: false,
  wardName(code) {
    if (!code) return "";
    const w = S.wards.get(String(code));
    if (!w) return String(code);
    // Names keep their diacritics in both languages; only the unit type is translated.
    if (getLang() === "vi") return w.full_name || w.name;
    const type = { "Phường": "ward", "Xã": "commune", "Thị trấn": "town" }[w.type] ?? "";
    return `${w.name}${type ? ` ${type}` : ""}`;
  },
};
window.__viewer = S;

/** May the signed-in account use `scope`? Unknown (server away at start-up): try, as before. */
function can(scope) {
  return !S.who || (S.who.scopes ?? []).includes(scope);
}
S.can = can;

/** Layers whose data this account may not read are left out of the page (not shown as errors). */
const LAYER_NEEDS = { events: "events:read", cameras: "cameras:read", scenario: "scenarios:read", compare: "scenarios:read" };

/** Ask who is signed in (GET /auth/whoami), trying again when the server is busy; null if it never says. */
async function whoami(tries) {
  for (let i = 0; i < tries; i += 1) {
    try {
      return await getJSON("/auth/whoami", undefined, { quiet: true, timeout: 5000 });
    } catch {
      if (i + 1 < tries) await new Promise((r) => setTimeout(r, 1000 * (i + 1)));
    }
  }
  return null;
}

/** Fit the page to the account: the public sees a public map, a planner a planner's, staff the IOC desk. */
function applyAccess() {
  const role = S.who?.role ?? "operator";
  document.body.dataset.role = role;
  S.unavailable = new Set(Object.entries(LAYER_NEEDS).filter(([, sc]) => !can(sc)).map(([name]) => name));
  for (const name of S.unavailable) S.visible[name] = false;
  const live = can("events:read");
  document.body.classList.toggle("no-replay", !live);
  $("tab-alerts").hidden = !can("incidents:read");
  $("tab-cameras").hidden = !can("cameras:read");
  $("tab-about").hidden = role !== "public";
  $("fs-scenarios").hidden = !can("scenarios:read");
  for (const el of document.querySelectorAll("[data-needs]")) el.hidden = !can(el.dataset.needs);
  const title = role === "public" ? "title_public" : role === "planner" ? "title_planner" : "title";
  $("title").dataset.i18n = title;
  $("search").dataset.i18nPlaceholder = can("cameras:read") ? "search_ph" : "search_ph_public";
  $("search-label").dataset.i18n = can("cameras:read") ? "search_label" : "search_label_public";
  S.homeTab = role === "public" ? "about" : can("incidents:read") ? "alerts" : can("cameras:read") ? "cameras" : "feed";
  selectTab(S.homeTab);
}

let map;
let overlay;
let health;
let stream;

// ---------------------------------------------------------------- rendering

let frameQueued = false;
/** Recompute what is drawn and hand the layers to deck.gl on the next animation frame. */
function render() {
  if (frameQueued || S.holdRender) return;
  frameQueued = true;
  requestAnimationFrame(() => {
    frameQueued = false;
    recompute();
    if (S.swipe.on) splitSwipe();
    // While swiping, the two runs side by side are the reading: the difference hexagons step aside.
    const layers = [...buildLayers(S).filter((l) => !(S.swipe.on && l.id === "compare")), ...forecastLayers(S),
      ...swipeLayers(S), ...authorLayers(S)];
    S.drawnLayerIds = layers.map((l) => l.id); // what is on the map (tests read it)
    overlay.setProps({ layers });
  });
}

function windowMs() {
  return WINDOWS[S.time.window] ?? 6 * HOUR;
}

/** Replay step: the hexagons show the events of this long before the slider's time. */
function replayStep() {
  return Math.max(10 * 60000, Math.min(HOUR, windowMs() / 12));
}

const drawnKeys = { cells: null, events: null };

function recompute() {
  const now = Date.now();
  const cat = S.category;
  if (S.time.mode === "live") S.time.t = now;
  const tt = S.time.t;
  let cells;
  if (S.time.mode === "live" && S.serverCells && !RAW) {
    // Server aggregates for the window, plus the events that streamed in since they were fetched.
    const counts = new Map(S.serverCells.map((d) => [d.cell, d.count]));
    for (const e of S.history.between(S.serverCellsAt + 1, now + 60000, cat)) {
      if (e.cell) counts.set(e.cell, (counts.get(e.cell) ?? 0) + 1);
    }
    cells = [...counts].filter(([cell, n]) => n > 0 && ringOf(cell)).map(([cell, count]) => ({ cell, count }));
  } else if (S.time.mode === "live") {
    cells = S.history.cells(now - windowMs(), now + 60000, cat);
  } else {
    cells = S.history.cells(tt - replayStep(), tt, cat);
  }
  const evWindow = S.time.mode === "live" ? 15 * 60000 : 5 * 60000;
  const events = S.history.between(tt - evWindow, tt + (S.time.mode === "live" ? 60000 : 0), cat).slice(-3000);
  // Keep the arrays deck.gl already holds when nothing changed: no attribute update, no redraw (a
  // redraw in software WebGL at 1920×1080 costs a good part of a second).
  const cellsKey = cells.map((d) => `${d.cell}:${d.count}`).join();
  if (cellsKey !== drawnKeys.cells) S.drawnCells = cells;
  const eventsKey = events.map((e) => e.id).join();
  if (eventsKey !== drawnKeys.events) S.drawnEvents = events;
  drawnKeys.cells = cellsKey;
  drawnKeys.events = eventsKey;
  let sum = 0;
  for (const d of cells) sum += d.count;
  S.drawnSignature = `${S.time.mode}:${cells.length}:${sum}:${S.drawnEvents.length}`;
  S.layerStatus.cells = { ...(S.layerStatus.cells ?? {}), count: cells.length };
  updateTimeLabel();
}

// ---------------------------------------------------------------- status and errors

function setStatus(name, status, message = "", count = undefined) {
  S.layerStatus[name] = { status, message, count };
  renderLayers();
}

function describeError(name, err) {
  // Refused (the account may not read it, or the session ended): say so in words, not in HTTP.
  if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return ["missing", t("layer_no_access", { name: t(`l_${name}`) })];
  if (err instanceof ApiError && err.missing) return ["missing", t("layer_missing", { name: t(`l_${name}`), status: err.status })];
  return ["error", t("layer_error", { name: t(`l_${name}`), msg: err.message })];
}

function noteError(name, err) {
  const [status, message] = describeError(name, err);
  setStatus(name, status, message);
  S.errors.push({ name, status, message, at: Date.now() });
  if (err instanceof ApiError && err.status === 0) health?.report(err);
  return status;
}

function renderLayers() {
  renderLayerList(S, toggleLayer, (name) => {
    S.current = name;
    renderLayers();
  });
}

function toggleLayer(name, on) {
  S.visible[name] = on;
  if (BASE_LAYERS[name]) setBaseVisible(map, name, on);
  renderLayers();
  render();
}

// ---------------------------------------------------------------- loading

/**
 * Load a base layer (its display variant, see startup.js) into the map. The request starts at once;
 * the answer goes into the map when `mapReady` has resolved (MapLibre has loaded its style).
 */
async function loadBaseLayer(name, mapReady = Promise.resolve()) {
  try {
    const fc = await getJSON(`/layers/${name}`, DISPLAY[name]);
    await mapReady;
    // A display variant sends each street once (both directed links as one line): count the links.
    const n = itemsOf(fc).length + (fc?.display?.duplicates_dropped ?? 0);
    S.base[name] = fc;
    setBaseData(map, name, fc);
    setStatus(name, n ? "ok" : "empty", n ? "" : t("layer_empty", { name: t(`l_${name}`) }), n);
    if (name === "wards_2025") {
      indexWards(fc);
      renderInc(); // the ward filter and the wards' names need them
      renderCameras();
    }
    if (name === "roads") indexStreets(fc);
    if (name === "units_pre2025") {
      for (const f of itemsOf(fc)) {
        const p = f.properties ?? {};
        const code = p.old_code ?? p.commune_id;
        if (code && !S.wards.has(String(code))) S.wards.set(String(code), { name: p.name_vi, full_name: p.name_vi });
      }
    }
    return true;
  } catch (err) {
    return noteError(name, err) === "missing";
  }
}

/** Return {at: [lon, lat], area} of a closed ring (shoelace formula, planar degrees), null if flat. */
function ringCentroid(ring) {
  if (!ring || ring.length < 4) return null;
  const [x0, y0] = ring[0]; // relative to the first vertex, for precision
  let a = 0;
  let cx = 0;
  let cy = 0;
  for (let i = 0; i < ring.length - 1; i += 1) {
    const xi = ring[i][0] - x0;
    const yi = ring[i][1] - y0;
    const xj = ring[i + 1][0] - x0;
    const yj = ring[i + 1][1] - y0;
    const cross = xi * yj - xj * yi;
    a += cross;
    cx += (xi + xj) * cross;
    cy += (yi + yj) * cross;
  }
  if (Math.abs(a) < 1e-12) return null;
  return { at: [x0 + cx / (3 * a), y0 + cy / (3 * a)], area: Math.abs(a / 2) };
}

function indexWards(fc) {
  const labels = [];
  for (const f of itemsOf(fc)) {
    const p = f.properties ?? {};
    const code = String(p.code ?? f.id ?? "");
    S.wards.set(code, p);
    const rings = f.geometry?.type === "MultiPolygon" ? f.geometry.coordinates.map((poly) => poly[0])
      : f.geometry?.type === "Polygon" ? [f.geometry.coordinates[0]] : [];
    // The label sits at the area centroid of the largest part (not the mean of its vertices, which
    // drifts towards wherever the boundary has the most detail).
    const parts = rings.map(ringCentroid).filter(Boolean).sort((a, b) => b.area - a.area);
    if (!parts.length) continue;
    Object.assign(p, { code, core: Boolean(p.core_city_ward), position: parts[0].at });
    labels.push({ name: p.name ?? p.full_name ?? code, name_en: p.name ?? p.full_name_en,
      core: Boolean(p.core_city_ward), position: parts[0].at });
  }
  S.wardLabels = labels;
}

/** One label per named street or bridge: at the middle of its longest piece. */
function indexStreets(fc) {
  const best = new Map();
  for (const f of itemsOf(fc)) {
    const p = f.properties ?? {};
    const name = String(p.name ?? "").trim();
    const g = f.geometry;
    if (!name || !g) continue;
    const lines = g.type === "MultiLineString" ? g.coordinates : g.type === "LineString" ? [g.coordinates] : [];
    for (const line of lines) {
      let len = 0;
      for (let i = 1; i < line.length; i += 1) len += Math.hypot(line[i][0] - line[i - 1][0], line[i][1] - line[i - 1][1]);
      const cur = best.get(name);
      if (!cur || len > cur.len) {
        best.set(name, { len, line, bridge: Boolean(p.bridge) || /^cầu/i.test(name), source: p.name_source ?? "" });
      }
    }
  }
  const words = (n) => n.replace(/^QL\s*/, "Quốc lộ ").replace(/^(TL|ĐT)\s*/, "Tỉnh lộ ");
  S.streets = [...best.entries()].map(([name, { line, bridge, source }]) => ({
    name: words(name), bridge, source, position: line[Math.floor(line.length / 2)],
  }));
  indexPlaces();
}

/** Market and bridge sites of the camera registry, named without the camera's direction. */
function indexPlaces() {
  const seen = new Map();
  for (const c of S.cameras) {
    if (c.kind !== "market" && c.kind !== "bridge") continue;
    const name = String(c.name ?? "").replace(/\s*\(hướng [^)]*\)|\s*–\s*số \d+/g, "").trim();
    if (name && !seen.has(name)) seen.set(name, { name, kind: c.kind, position: c.position });
  }
  const streetNames = new Set(S.streets.map((x) => x.name));
  S.placeLabels = [...S.streets.map((x) => ({ ...x, kind: x.bridge ? "bridge" : "street" })),
    ...[...seen.values()].filter((x) => !streetNames.has(x.name))];
  render();
}

function normCamera(f) {
  const p = { ...(f.properties ?? f) };
  const pos = position(f);
  return { ...p, camera_id: String(p.camera_id ?? p.id ?? f.id), position: pos,
    status: p.status ?? (p.connected ? "online" : "not_connected") };
}

async function loadCameras() {
  let fc;
  try {
    fc = await getJSON("/cameras");
  } catch (err) {
    if (!(err instanceof ApiError && err.missing)) {
      noteError("cameras", err);
      return;
    }
    try {
      fc = await getJSON("/layers/cameras"); // the static registry, without live status
    } catch (err2) {
      noteError("cameras", err2);
      return;
    }
  }
  S.cameras = itemsOf(fc).map(normCamera).filter((c) => c.position);
  S.cameraVersion += 1;
  indexPlaces();
  renderCameras();
  setStatus("cameras", S.cameras.length ? "ok" : "empty",
    S.cameras.length ? "" : t("layer_empty", { name: t("l_cameras") }), S.cameras.length);
  loadCameraSummary(); // the header badge; the map does not wait for it
}

async function loadCameraSummary() {
  try {
    S.cameraSummary = await getJSON("/cameras/summary");
  } catch {
    // Count from the registry when the summary endpoint is not there.
    S.cameraSummary = {
      online: S.cameras.filter((c) => c.status === "online").length,
      total: S.cameras.length,
      connected: S.cameras.filter((c) => c.connected || c.status !== "not_connected").length,
    };
  }
  renderCameraSummary();
}

function renderCameraSummary() {
  const s = S.cameraSummary;
  $("camera-summary").textContent = s && s.total
    ? `${t("cameras_online", { online: s.online, total: s.total })} · ${t("cameras_connected", { connected: s.connected })}`
    : "—";
}

async function loadCoverage() {
  try {
    S.coverage = await getJSON("/layers/camera_coverage", DISPLAY.camera_coverage);
    const n = itemsOf(S.coverage).length;
    setStatus("camera_coverage", n ? "ok" : "empty", n ? "" : t("layer_empty", { name: t("l_camera_coverage") }), n);
  } catch (err) {
    noteError("camera_coverage", err);
  }
}

/** Ask an endpoint that takes a `window`; accept "6h" or seconds, whichever the server parses. */
async function getWindowed(path, extra) {
  const ms = windowMs();
  try {
    return await getJSON(path, { ...extra, window: S.time.window });
  } catch (err) {
    if (err instanceof ApiError && err.status === 422) return getJSON(path, { ...extra, window: ms / 1000 });
    throw err;
  }
}

/** Return the cells of a FeatureCollection of H3 cell polygons (the server's cells and rings). */
function cellsFrom(fc) {
  const out = [];
  for (const f of itemsOf(fc)) {
    const p = f.properties ?? f;
    const cell = cellOf(f);
    if (cell && ringOf(cell)) out.push({ ...p, cell, count: numberOf(p, ["count", "n", "events", "value"]) || 0 });
  }
  return out;
}

async function loadCells() {
  if (RAW) return;
  try {
    const fetchedAt = Date.now();
    // The service's resolution (GET /config h3_res): the URL is the one index.html already asked for.
    const fc = await getWindowed("/cells", { category: S.category });
    S.serverCells = cellsFrom(fc).filter((d) => d.count > 0);
    S.serverCellsAt = fetchedAt;
    if (S.stream.state === "aggregates") renderStreamStatus();
    for (const d of S.serverCells) if (d.category) addCategory(d.category);
    setStatus("cells", S.serverCells.length ? "ok" : "empty",
      S.serverCells.length ? "" : t("layer_empty", { name: t("l_cells") }), S.serverCells.length);
  } catch (err) {
    S.serverCells = null; // fall back on counting the loaded events in the browser
    noteError("cells", err);
  }
  render();
}

async function loadHotspots() {
  if (RAW) return;
  try {
    const fc = await getWindowed("/hotspots", { category: S.category });
    S.hotspots = cellsFrom(fc).map((d) => ({ ...d, hotspot: d.hotspot ?? "none" }));
    const hot = S.hotspots.filter((d) => d.hotspot !== "none").length;
    setStatus("hotspots", "ok", "", hot);
  } catch (err) {
    S.hotspots = [];
    noteError("hotspots", err);
  }
  render();
}

function addCategory(cat) {
  if (!cat || S.categories.includes(cat)) return;
  S.categories.push(cat); // one the table lacks (an older server's): after the table's, in arrival order
  renderCategories();
}

function renderCategories() {
  const sel = $("sel-category");
  const cur = sel.value;
  sel.innerHTML = `<option value="">${esc(t("all"))}</option>${S.categories.map((c) => `<option value="${esc(c)}">${esc(label("c_", c))}</option>`).join("")}`;
  sel.value = cur;
}

/** Load the events of the replay span (page by page through the cursor), newest pages first. */
async function loadHistory(maxEvents = RAW ? 250000 : 50000) {
  const since = new Date(Date.now() - windowMs()).toISOString();
  let cursor;
  let total = 0;
  try {
    for (let page = 0; page < 400 && total < maxEvents; page += 1) {
      const doc = await getJSON("/events", { since, limit: 1000, cursor }, { timeout: 60000 });
      for (const [cell, ring] of Object.entries(doc?.cell_boundaries ?? {})) rememberRing(cell, ring);
      const events = itemsOf(doc).map(normEvent).filter(Boolean);
      total += S.history.add(events);
      for (const e of events) addCategory(e.category);
      cursor = doc?.next_cursor ?? doc?.cursor ?? doc?.next;
      if (!cursor || !events.length) break;
    }
    setStatus("events", total || S.history.size ? "ok" : "empty",
      S.history.size ? "" : t("no_events"), S.history.size);
    if (!S.feed.length) {
      S.feed = S.history.events.slice(-100).reverse();
      renderFeed(S, focusItem);
    }
  } catch (err) {
    noteError("events", err);
  }
  render();
}

async function loadReports() {
  try {
    const doc = await getJSON("/open311/v2/requests.json");
    S.reports = itemsOf(doc).map(normReport).filter(Boolean);
    setStatus("reports", S.reports.length ? "ok" : "empty",
      S.reports.length ? "" : t("layer_empty", { name: t("l_reports") }), S.reports.length);
    for (const r of S.reports) S.feed.push({ ...r, kind: "report" });
    S.feed.sort((a, b) => b.ts - a.ts);
    renderFeed(S, focusItem);
  } catch (err) {
    noteError("reports", err);
  }
  render();
}

function renderInc() {
  if (S.field) {
    renderField();
    return;
  }
  if (!can("incidents:read")) return;
  renderIncidentList(S, $("pane-alerts"), { onOpen: (id) => openIncident(S, id, renderInc).then(() => selectTab("details")) });
  if (S.inc.detail || S.inc.message) {
    renderIncidentDetail(S, $("details"), { onFly: flyToIncident });
  }
}
S.inc.onRender = renderInc;

function flyToIncident(d) {
  if (d.lon == null) return;
  map.flyTo({ center: [d.lon, d.lat], zoom: Math.max(map.getZoom(), 16), duration: 800 });
}

function renderCameras() {
  if (!S.field) renderCameraTable(S, $("pane-cameras"), (cam) => {
    map.flyTo({ center: cam.position, zoom: Math.max(map.getZoom(), 17), duration: 800 });
    showCamera(cam);
  }, () => render());
}

// ---------------------------------------------------------------- the phone view (field staff)

function renderField() {
  const root = $("field");
  const I = S.inc;
  if (I.detail && I.selected) {
    renderIncidentDetail(S, root, {
      onFly: flyToIncident,
      onBack: () => {
        I.selected = null;
        I.detail = null;
        renderField();
        $("field").querySelector("[data-open]")?.focus();
      },
    });
    return;
  }
  root.innerHTML = `<h2 class="field-h">${esc(t("field_title"))}</h2><div id="field-list"></div>`;
  renderIncidentList(S, $("field-list"), {
    compact: true,
    onOpen: async (id) => {
      await openIncident(S, id, renderField);
      flyToIncident(S.inc.detail ?? {});
      $("inc-h")?.focus();
    },
  });
}

async function loadAlerts() {
  if (can("incidents:read")) loadIncidents(S, renderInc);
  if (S.field || !can("alerts:read")) return;
  try {
    const doc = await getJSON("/alerts");
    for (const a of itemsOf(doc).map(normAlert)) S.alerts.set(a.id, a);
    S.alertsNote = "";
  } catch (err) {
    S.alertsNote = describeError("alerts", err)[1];
  }
}

// ---------------------------------------------------------------- live stream

function onStreamEvent(data) {
  const e = normEvent(data);
  if (!e) return;
  S.stream.received += 1;
  S.stream.lastEventId = e.id;
  if (S.history.add([e])) {
    addCategory(e.category);
    S.feed.unshift(e);
    if (S.feed.length > 300) S.feed.length = 300;
    scheduleFeed();
    render();
  }
}

let feedTimer = null;
function scheduleFeed() {
  if (feedTimer) return;
  feedTimer = setTimeout(() => {
    feedTimer = null;
    renderFeed(S, focusItem);
  }, 500);
}

function onStreamAlert(data) {
  const a = normAlert(data);
  S.alerts.set(a.id, { ...(S.alerts.get(a.id) ?? {}), ...a });
}

let incTimer = null;
function onIncident(data) {
  onStreamIncident(S, data, () => {
    clearTimeout(incTimer);
    incTimer = setTimeout(renderInc, 300);
  });
}

let summaryTimer = null;
function onStreamCamera(data) {
  const x = data.properties ?? data.camera ?? data;
  const id = String(x.camera_id ?? x.id ?? "");
  const cam = S.cameras.find((c) => c.camera_id === id);
  if (cam) {
    if (x.status) cam.status = x.status;
    if (x.last_seen) cam.last_seen = x.last_seen;
    S.cameraVersion += 1;
    render();
  }
  clearTimeout(summaryTimer);
  summaryTimer = setTimeout(loadCameraSummary, 1000);
}

function onStreamReport(data) {
  const r = normReport(data);
  if (!r) return;
  S.reports = [...S.reports.filter((x) => x.id !== r.id), r];
  S.feed.unshift({ ...r, kind: "report" });
  scheduleFeed();
  render();
}

function onStreamState(state, retry) {
  if (S.stream.state === "aggregates") return;
  const now = Date.now();
  // What the page shows is as fresh as the moment the stream was last open.
  if (state === "open" || S.stream.state === "open") S.stream.freshAt = now;
  S.stream.state = state;
  S.stream.retryAt = state === "down" ? now + retry * 1000 : 0;
  renderStreamStatus();
}

/** Seconds, as people read them: "42 s", "3 min 5 s", "2 h 10 min". */
function fmtAge(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** The stream badge: live, or lost with a countdown to the next try and the age of what is shown. */
function renderStreamStatus() {
  const el = $("stream-status");
  const st = S.stream.state;
  el.className = `badge stream-${st}`;
  const age = S.stream.freshAt ? fmtAge(Date.now() - S.stream.freshAt) : "";
  if (st === "aggregates") {
    el.textContent = t("stream_aggregates", { t: S.serverCellsAt ? fmtTime(S.serverCellsAt) : "—" });
  } else if (st === "open") {
    el.textContent = t("stream_live");
  } else if (st === "down" && S.stream.retryAt > Date.now()) {
    el.textContent = t("stream_down", { s: Math.ceil((S.stream.retryAt - Date.now()) / 1000), age });
  } else {
    el.textContent = S.stream.freshAt ? t("stream_reconnecting", { age }) : t("stream_connecting");
  }
}

/** Once a second while the server is away: the banner counts down to the next check. */
function renderOutage() {
  if (S.api.up || !health) return;
  const s = Math.max(0, Math.ceil((health.nextAt - Date.now()) / 1000));
  const age = S.stream.freshAt ? fmtAge(Date.now() - S.stream.freshAt) : "";
  S.api.message = s > 0 ? t("api_down", { s, age }) : t("api_trying", { age });
  banner(S.api.message);
}

/** Open the live stream only for a key that may read it (no stream retrying a 401 forever). */
async function startStream() {
  if (!can("events:read")) {
    // The public and planners see aggregates, refreshed every 30 s: say so instead of "live".
    S.stream.state = "aggregates";
    renderStreamStatus();
    stream = { reconnect() {}, close() {} };
    return;
  }
  const fresh = (fn) => (...a) => {
    S.stream.freshAt = Date.now();
    return fn(...a);
  };
  stream = openStream({}, {
    event: fresh(onStreamEvent),
    alert: fresh(onStreamAlert),
    camera: fresh(onStreamCamera),
    report: fresh(onStreamReport),
    incident: fresh(onIncident),
    forecast: fresh(() => refreshForecast()),
    // What was missed while away is no longer kept on the server: load the current state again.
    reload: () => loadAll({ base: FIRST_BASE.filter((n) => !S.base[n]) }).then(loadLater),
    message: fresh((d) => {
      const type = d?.type ?? d?.event;
      if (type === "alert") onStreamAlert(d);
      else if (type === "incident") onIncident(d);
      else if (type === "camera") onStreamCamera(d);
      else if (type === "report") onStreamReport(d);
      else onStreamEvent(d);
    }),
  }, onStreamState);
}

// ---------------------------------------------------------------- time

function sliderToTime(v) {
  const now = Date.now();
  return now - windowMs() + (Number(v) / 1000) * windowMs();
}

function timeToSlider(ts) {
  return Math.round(((ts - (Date.now() - windowMs())) / windowMs()) * 1000);
}

function updateTimeLabel() {
  const out = $("time-label");
  if (S.time.mode === "live") {
    out.textContent = t("live_now", { t: fmtTime(S.time.t) });
    $("time-slider").value = "1000";
  } else {
    out.textContent = S.history.size ? t("replay_at", { t: fmtTime(S.time.t, true) }) : t("replay_none");
    $("time-slider").value = String(timeToSlider(S.time.t));
  }
  $("btn-live").setAttribute("aria-pressed", String(S.time.mode === "live"));
  $("btn-play").setAttribute("aria-pressed", String(S.time.playing));
  $("btn-play").textContent = S.time.playing ? "❚❚" : "▶";
  $("time-slider").setAttribute("aria-valuetext", out.textContent);
}

function goLive() {
  S.time.mode = "live";
  S.time.playing = false;
  render();
}

function seek(ts) {
  const now = Date.now();
  if (ts >= now - 1000) {
    goLive();
    return;
  }
  S.time.mode = "replay";
  S.time.t = Math.max(now - windowMs(), ts);
  render();
}

let playTimer = null;
function togglePlay() {
  if (S.time.playing) {
    S.time.playing = false;
    render();
    return;
  }
  if (S.time.mode === "live") S.time.t = Date.now() - windowMs();
  S.time.mode = "replay";
  S.time.playing = true;
  clearInterval(playTimer);
  playTimer = setInterval(() => {
    if (!S.time.playing) {
      clearInterval(playTimer);
      return;
    }
    seek(S.time.t + S.time.speed * 200);
  }, 200);
  render();
}

// ---------------------------------------------------------------- scenarios

function runId(r) {
  return String(r.id ?? r.run_id ?? r.name);
}

/** A run as people name it (its title), else its id. */
function runName(id) {
  const r = S.scenario.runs.find((x) => runId(x) === id);
  return r?.name ?? id;
}

async function loadScenarios() {
  try {
    const doc = await getJSON("/scenarios");
    S.scenario.runs = itemsOf(doc).filter((r) => !r.status || ["done", "finished", "completed", "succeeded", "ok"]
      .includes(String(r.status).toLowerCase()));
    S.scenario.message = S.scenario.runs.length ? "" : t("no_scenarios_yet");
  } catch (err) {
    S.scenario.runs = [];
    S.scenario.message = t("no_scenarios", { status: err.status || err.message });
  }
  const opts = S.scenario.runs.map((r) => `<option value="${esc(runId(r))}">${esc(runLabel(r))}</option>`).join("");
  for (const id of ["sel-run", "sel-compare"]) {
    const sel = $(id);
    const cur = sel.value;
    sel.innerHTML = `<option value="">${esc(t("none"))}</option>${opts}`;
    sel.value = cur;
  }
  $("scenario-status").textContent = S.scenario.message;
}

function layerNames(detail, run) {
  const raw = detail?.layers ?? run?.layers;
  let names = [];
  if (Array.isArray(raw)) names = raw.map((l) => (typeof l === "string" ? l : l.name)).filter(Boolean);
  else if (raw && typeof raw === "object") names = Object.keys(raw);
  if (!names.length) {
    const kind = String(detail?.spec?.kind ?? run?.kind ?? run?.model ?? "").toLowerCase();
    names = kind.includes("waste") ? ["waste.routes", "waste.points"] : ["traffic.links"];
  }
  // Most telling first: link speeds, truck routes, bins; then the rest.
  const rank = (n) => ["links", "routes", "points", "bins"].findIndex((k) => n.endsWith(k));
  return names.sort((a, b) => ((rank(a) + 10) % 10) - ((rank(b) + 10) % 10));
}

async function selectRun(id) {
  if (S.swipe.on) await setSwipe(false);
  S.scenario.run = id || null;
  S.scenario.features = [];
  S.scenario.shown = [];
  S.scenario.detail = null;
  $("sim-time").hidden = true;
  if (!id) {
    $("scenario-status").textContent = "";
    setStatus("scenario", undefined);
    render();
    return;
  }
  const run = S.scenario.runs.find((r) => runId(r) === id);
  try {
    S.scenario.detail = await getJSON(`/scenarios/${encodeURIComponent(id)}`);
  } catch (err) {
    $("scenario-status").textContent = t("layer_error", { name: id, msg: err.message });
  }
  S.scenario.layers = layerNames(S.scenario.detail, run);
  $("sel-run-layer").innerHTML = S.scenario.layers.map((n) => `<option value="${esc(n)}">${esc(layerTitle(n))}</option>`).join("");
  await loadScenarioLayer(S.scenario.layers[0]);
  if (S.compare.with) await loadCompare();
}

const TIME_KEYS = ["t", "time", "time_s", "hour", "minute", "bin", "step", "period", "ts"];

/** Fetch a per-link per-bin table (CSV) and return {bins, labels, speed(bin, link)}; null if too big. */
async function loadLinkSeries(table) {
  if (!table?.url || !(table.rows > 0) || table.rows > 1500000) return null;
  const res = await fetch(table.url.includes("?") ? table.url : `${table.url}?format=csv`);
  if (!res.ok) return null;
  const text = await res.text();
  let lineEnd = text.indexOf("\n");
  const head = text.slice(0, lineEnd).trim().split(",");
  const iBin = head.indexOf("bin");
  const iLink = head.indexOf("link_id");
  const iSpeed = head.indexOf("speed_kmh");
  const iLocal = head.indexOf("t_local");
  const iClosed = head.indexOf("closed");
  const iFlow = head.indexOf("flow_veh_h");
  if (iBin < 0 || iLink < 0 || iSpeed < 0) return null;
  const rows = [];
  let nb = 0;
  let m = 0;
  const labels = [];
  let pos = lineEnd + 1;
  while (pos < text.length) {
    lineEnd = text.indexOf("\n", pos);
    if (lineEnd < 0) lineEnd = text.length;
    const cols = text.slice(pos, lineEnd).split(",");
    pos = lineEnd + 1;
    if (cols.length < head.length) continue;
    const b = Number(cols[iBin]);
    const l = Number(cols[iLink]);
    rows.push(b, l, cols[iSpeed] === "" ? NaN : Number(cols[iSpeed]),
      iClosed >= 0 && /^(true|1)$/i.test(cols[iClosed]) ? 1 : 0, iFlow >= 0 ? Number(cols[iFlow]) : NaN);
    nb = Math.max(nb, b + 1);
    m = Math.max(m, l + 1);
    if (iLocal >= 0 && labels[b] === undefined) labels[b] = cols[iLocal];
  }
  const speeds = new Float32Array(nb * m).fill(NaN);
  const flows = new Float32Array(nb * m).fill(NaN);
  const closed = new Uint8Array(nb * m);
  for (let i = 0; i < rows.length; i += 5) {
    const k = rows[i] * m + rows[i + 1];
    speeds[k] = rows[i + 2];
    closed[k] = rows[i + 3];
    flows[k] = rows[i + 4];
  }
  // The state of a link in a bin, as the server wrote it: closed, flowing (with a speed) or no flow.
  return {
    nb, m, labels, speed: (b, l) => speeds[b * m + l], flow: (b, l) => flows[b * m + l],
    closed: (b, l) => closed[b * m + l] === 1,
  };
}

/** The link id of a feature of the links layer (its GeoJSON id, else its link_id property). */
export function linkIdOf(f) {
  return Number(f.id ?? f.properties?.link_id);
}

function freeSpeed(p) {
  const mean = numberOf(p, ["mean_speed_kmh"]);
  const ratio = numberOf(p, ["speed_ratio"]);
  return Number.isFinite(mean) && ratio > 0 ? mean / ratio : numberOf(p, ["speed_limit_kmh", "free_speed_kmh"]) || 50;
}

/** Colour of a link in the shown 5-minute bin of a per-bin series (one clock for every side). */
function seriesColor(ts) {
  return (f) => {
    const b = S.scenario.t ?? 0;
    const l = linkIdOf(f);
    if (ts.closed(b, l)) return CLOSED_COLOR;
    const v = ts.speed(b, l);
    // No vehicle left the link in this bin: no speed to show (never drawn as free flow).
    return Number.isFinite(v) ? ramp(SPEED_RAMP, v / freeSpeed(f.properties)) : NO_FLOW_COLOR;
  };
}

// ---------------------------------------------------------------- swipe compare

/**
 * Swipe compare (kepler.gl-style split): the baseline's links left of the bar, the scenario's right of
 * it, both coloured for the same 5-minute bin (one clock). Drag the bar's grip, or use ← → on it.
 */
async function setSwipe(on) {
  S.swipe.on = false;
  S.swipe.features = [];
  S.scenario.shown = S.scenario.features;
  const a = S.compare.with;
  if (on && a && S.scenario.mode === "series") {
    try {
      const detail = await getJSON(`/scenarios/${encodeURIComponent(a)}`);
      const fc = await getJSON(`/scenarios/${encodeURIComponent(a)}/layers/${encodeURIComponent(S.scenario.layer)}`,
        undefined, { timeout: 60000 });
      const tb = (detail.tables ?? []).find((x) => /links_\d+min$/.test(x.name));
      const ts = await loadLinkSeries(tb);
      if (ts) {
        S.swipe.features = itemsOf(fc).filter((f) => f.geometry);
        S.swipe.colorOf = seriesColor(ts);
        S.swipe.on = true;
      }
    } catch (err) {
      $("scenario-status").textContent = t("layer_error", { name: t("swipe"), msg: err.message });
    }
  }
  $("chk-swipe").checked = S.swipe.on;
  showSwipeBar();
  render();
}

function showSwipeBar() {
  let bar = $("swipe-bar");
  if (!S.swipe.on) {
    if (bar) bar.hidden = true;
    return;
  }
  if (!bar) {
    bar = document.createElement("div");
    bar.id = "swipe-bar";
    bar.className = "swipe-bar";
    bar.innerHTML = `<span class="side l"></span><span class="grip" role="slider" tabindex="0" aria-valuemin="0"
      aria-valuemax="100">⇔</span><span class="side r"></span>`;
    $("map").append(bar);
    const grip = bar.querySelector(".grip");
    const moveTo = (clientX) => {
      const r = $("map").getBoundingClientRect();
      S.swipe.x = Math.max(0.02, Math.min(0.98, (clientX - r.left) / r.width));
      placeSwipeBar();
      render();
    };
    grip.addEventListener("pointerdown", (e) => {
      grip.setPointerCapture(e.pointerId);
      e.preventDefault();
      e.stopPropagation();
    });
    grip.addEventListener("pointermove", (e) => {
      if (grip.hasPointerCapture(e.pointerId)) moveTo(e.clientX);
    });
    grip.addEventListener("keydown", (e) => {
      if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
      e.preventDefault();
      e.stopPropagation();
      const r = $("map").getBoundingClientRect();
      moveTo(r.left + (S.swipe.x + (e.key === "ArrowLeft" ? -0.05 : 0.05)) * r.width);
    });
  }
  bar.hidden = false;
  bar.querySelector(".side.l").textContent = t("swipe_left");
  bar.querySelector(".side.r").textContent = t("swipe_right");
  bar.querySelector(".grip").setAttribute("aria-label", t("swipe"));
  placeSwipeBar();
}

function placeSwipeBar() {
  const bar = $("swipe-bar");
  if (!bar) return;
  bar.style.left = `${(S.swipe.x * 100).toFixed(2)}%`;
  bar.querySelector(".grip").setAttribute("aria-valuenow", String(Math.round(S.swipe.x * 100)));
}

/** Split the links at the bar: each link goes to the side its midpoint is on (screen x). */
function splitSwipe() {
  const w = map.getContainer().clientWidth;
  const x = S.swipe.x * w;
  const midX = (f) => {
    const c = f.geometry.coordinates;
    const a = c[0];
    const b = c[c.length - 1];
    return map.project([(a[0] + b[0]) / 2, (a[1] + b[1]) / 2]).x;
  };
  S.scenario.shown = S.scenario.features.filter((f) => midX(f) >= x);
  S.swipe.left = S.swipe.features.filter((f) => midX(f) < x);
}

async function loadScenarioLayer(name) {
  const id = S.scenario.run;
  if (!id || !name) return;
  S.scenario.layer = name;
  S.scenario.mode = "static";
  S.scenario.colorOf = null;
  S.scenario.series = null;
  $("scenario-status").textContent = t("loading");
  $("sim-time").hidden = true;
  try {
    const fc = await getJSON(`/scenarios/${encodeURIComponent(id)}/layers/${encodeURIComponent(name)}`, undefined,
      { timeout: 60000 });
    const feats = itemsOf(fc).filter((f) => f.geometry);
    S.scenario.features = feats;
    S.scenario.shown = feats;
    S.scenario.style = scenarioStyle(feats);
    const p0 = feats[0]?.properties ?? {};
    let vmax = 0;
    for (const f of feats) vmax = Math.max(vmax, numberOf(f.properties ?? {}, SPEED_KEYS) || 0);
    S.scenario.maxSpeed = vmax || 60;
    if ("closed_any" in p0) {
      // Whole-run view of the links: a link closed at any time is drawn closed, not by its mean speed.
      S.scenario.colorOf = (f) => (f.properties.closed_any ? CLOSED_COLOR
        : Number.isFinite(Number(f.properties.mean_speed_kmh ?? NaN)) && f.properties.mean_speed_kmh !== null
          ? ramp(SPEED_RAMP, f.properties.mean_speed_kmh / freeSpeed(f.properties)) : NO_FLOW_COLOR);
    }
    S.scenario.times = [];
    const series = name.endsWith("links")
      ? (S.scenario.detail?.tables ?? []).find((tb) => /links_\d+min$/.test(tb.name)) : null;
    if (Array.isArray(p0.timestamps)) {
      // Truck routes with a timestamp per vertex: animate them over the day (deck.gl TripsLayer).
      S.scenario.mode = "trips";
      S.scenario.trips = feats.filter((f) => f.geometry.type === "LineString").map((f) => ({
        path: f.geometry.coordinates, timestamps: f.properties.timestamps, properties: f.properties }));
      let t0 = Infinity;
      let t1 = -Infinity;
      for (const d of S.scenario.trips) {
        t0 = Math.min(t0, d.timestamps[0]);
        t1 = Math.max(t1, d.timestamps[d.timestamps.length - 1]);
      }
      const step = 300;
      S.scenario.times = Array.from({ length: Math.max(1, Math.ceil((t1 - t0) / step) + 1) }, (_, i) => t0 + i * step);
      S.scenario.fmt = (v) => fmtTime(v * 1000, true);
      S.scenario.at = (i) => {
        S.scenario.t = S.scenario.times[i];
      };
    } else if (series) {
      $("scenario-status").textContent = t("loading");
      const ts = await loadLinkSeries(series);
      if (ts) {
        // Link speeds over the day: colour each link by its speed in the chosen 5-minute bin.
        S.scenario.mode = "series";
        S.scenario.times = Array.from({ length: ts.nb }, (_, i) => i);
        S.scenario.fmt = (b) => ts.labels[b] ?? `bin ${b}`;
        S.scenario.at = (b) => {
          S.scenario.t = b;
        };
        S.scenario.series = ts;
        S.scenario.colorOf = seriesColor(ts);
        S.scenario.style = "speed";
      }
    } else {
      const key = TIME_KEYS.find((k) => k in p0);
      if (key) {
        S.scenario.mode = "keyed";
        S.scenario.times = [...new Set(feats.map((f) => f.properties[key]))].sort((a, b) => (a > b ? 1 : -1));
        S.scenario.fmt = (v) => String(v);
        S.scenario.at = (i) => {
          S.scenario.t = S.scenario.times[i];
          S.scenario.shown = feats.filter((f) => f.properties[key] === S.scenario.t);
        };
      }
    }
    if (S.scenario.times.length > 1) {
      $("sim-slider").max = String(S.scenario.times.length - 1);
      // Start at the morning peak when the run covers it.
      const peak = S.scenario.mode === "series" ? S.scenario.times.findIndex((b) => /^0?8:/.test(S.scenario.fmt(b))) : -1;
      setSimTime(Math.max(0, peak));
      $("sim-time").hidden = false;
    }
    const msg = feats.length ? t("scenario_loaded", { layer: layerTitle(name), run: runName(id), n: feats.length })
      : t("scenario_empty", { run: runName(id), layer: layerTitle(name) });
    $("scenario-status").textContent = msg;
    setStatus("scenario", feats.length ? "ok" : "empty", feats.length ? "" : msg, feats.length);
    if (feats.length) S.current = "scenario";
  } catch (err) {
    S.scenario.features = [];
    S.scenario.shown = [];
    const msg = err instanceof ApiError && err.missing ? t("scenario_empty", { run: runName(id), layer: layerTitle(name) })
      : t("layer_error", { name, msg: err.message });
    $("scenario-status").textContent = msg;
    setStatus("scenario", "error", msg);
  }
  renderLayers();
  render();
}

function setSimTime(i) {
  if (!S.scenario.at) return;
  S.scenario.at(i);
  $("sim-slider").value = String(i);
  $("sim-label").textContent = t("sim_time", { t: S.scenario.fmt(S.scenario.t) });
  render();
}

let simTimer = null;
function toggleSimPlay() {
  S.scenario.playing = !S.scenario.playing;
  $("btn-sim-play").textContent = S.scenario.playing ? "❚❚" : "▶";
  $("btn-sim-play").setAttribute("aria-pressed", String(S.scenario.playing));
  clearInterval(simTimer);
  if (!S.scenario.playing) return;
  simTimer = setInterval(() => {
    const n = S.scenario.times.length;
    if (!n) return;
    setSimTime((Number($("sim-slider").value) + 1) % n);
  }, 400);
}

/** Open a run made from the map: the scenario shown, compared with its baseline, the KPI table beside. */
async function openResult(id, baseline) {
  await loadScenarios();
  $("sel-run").value = id;
  S.compare.with = baseline;
  $("sel-compare").value = baseline;
  await selectRun(id);
}

/**
 * Load the H3 difference map of the selected layer: the shown run (the scenario) minus the run it is
 * compared with (the baseline), i.e. GET /scenarios/{baseline}/compare/{scenario} (b − a).
 */
async function loadCompare() {
  if (S.swipe.on) await setSwipe(false);
  const a = S.compare.with;
  const b = S.scenario.run;
  S.compare.cells = [];
  $("swipe-row").hidden = !(a && b && S.scenario.mode === "series");
  if (!a || !b) {
    S.compare.doc = null;
    renderKpiTable($("kpi-table"), null);
    setStatus("compare", undefined);
    render();
    return;
  }
  try {
    const body = await getJSON(`/scenarios/${encodeURIComponent(a)}/compare/${encodeURIComponent(b)}`, undefined,
      { timeout: 60000 });
    let fc = body;
    if (!Array.isArray(body?.features)) {
      // The compare answer lists the difference layers; take the one matching the shown layer.
      const links = body?.layers ?? [];
      const link = links.find((l) => l.name === S.scenario.layer) ?? links[0];
      if (!link) throw new ApiError("compare", 404, t("scenario_empty", { run: `${runName(a)} / ${runName(b)}`, layer: layerTitle(S.scenario.layer) }));
      const url = link.urls?.geojson ?? `/scenarios/${a}/compare/${b}/layers/${link.name}`;
      fc = await getJSON(url.replace(/^https?:\/\/[^/]+/, ""), undefined, { timeout: 60000 });
      S.compare.kpis = body.kpis ?? [];
      S.compare.doc = body;
    }
    const params = fc?.provenance?.params ?? {};
    S.compare.units = params.units ?? {};
    S.compare.labels = params.labels ?? {};
    const cells = cellsFrom(fc);
    const keys = Object.keys(cells[0] ?? {}).filter((k) => k.endsWith("_delta") || DIFF_KEYS.includes(k));
    const pref = ["speed", "fill", "overflow", "flow", "volume", "count"];
    const metric = S.compare.metric && keys.includes(S.compare.metric) ? S.compare.metric
      : keys.find((k) => pref.some((p) => k.includes(p))) ?? keys[0];
    S.compare.metric = metric;
    $("sel-compare-metric").innerHTML = keys.map((k) => `<option value="${esc(k)}">${esc(metricLabel(k))}</option>`).join("");
    $("sel-compare-metric").value = metric ?? "";
    S.compare.raw = cells;
    applyCompareMetric();
    $("scenario-status").textContent = t("compare_loaded", { a: runName(a), b: runName(b), n: S.compare.cells.length, metric: metricLabel(metric) });
    renderKpiTable($("kpi-table"), S.compare.doc);
    S.current = "compare";
  } catch (err) {
    $("scenario-status").textContent = t("layer_error", { name: t("l_compare"), msg: err.message });
    noteError("compare", err);
  }
  renderLayers();
  render();
}

/** The label (current language) and unit of a difference-layer column. */
function metricLabel(key) {
  const l = S.compare.labels?.[key];
  const u = S.compare.units?.[key];
  const name = l ? (getLang() === "en" ? l.en : l.vi) : key;
  return u ? `${name} (${u === "%" ? "% pts" : u})` : name;
}

function applyCompareMetric() {
  const m = S.compare.metric;
  const pct = S.compare.units?.[m] === "%";
  const all = (S.compare.raw ?? []).map((d) => ({ ...d, value: Number(d[m]) * (pct ? 100 : 1) }))
    .filter((d) => Number.isFinite(d.value));
  S.compare.maxAbs = Math.max(1e-9, ...all.map((d) => Math.abs(d.value)));
  // Cells that barely change (under 1 % of the largest change) are left out: no grey blanket.
  S.compare.cells = all.filter((d) => Math.abs(d.value) >= 0.01 * S.compare.maxAbs);
  S.compare.unit = S.compare.units?.[m] === "%" ? "% pts" : (S.compare.units?.[m] ?? "");
  S.compare.metricLabel = metricLabel(m);
  setStatus("compare", S.compare.cells.length ? "ok" : "empty",
    S.compare.cells.length ? "" : t("layer_empty", { name: t("l_compare") }), S.compare.cells.length);
  render();
}

// ---------------------------------------------------------------- picking and focus

async function showCamera(cam) {
  S.selectedCamera = cam.camera_id;
  render();
  let recent = S.history.ofCamera(cam.camera_id);
  renderDetails(S, "camera", cam, recent);
  try {
    const doc = await getJSON("/events", { camera: cam.camera_id, limit: 8 });
    const fetched = itemsOf(doc).map(normEvent).filter(Boolean).sort((x, y) => y.ts - x.ts);
    if (fetched.length) recent = fetched;
    if (S.selectedCamera === cam.camera_id) renderDetails(S, "camera", cam, recent);
  } catch {
    /* the details already show what the page holds */
  }
}

function onClick(info) {
  if (!info.object || S.author?.picking) return; // while picking a road, a click authors the scenario
  const id = info.layer?.id;
  if (id === "camera-clusters") {
    const c = info.object;
    if (c.count === 1) showCamera(c.members[0]);
    else map.flyTo({ center: c.position, zoom: Math.max(map.getZoom() + 2, 14), duration: 600 });
  } else if (id === "incidents") openIncident(S, info.object.incident_id, renderInc).then(() => selectTab("details"));
  else if (id === "cameras") showCamera(info.object);
  else if (id === "events") renderDetails(S, "event", info.object);
  else if (id === "reports") renderDetails(S, "report", info.object);
  else if (id === "cells" || id === "hotspots" || id === "compare") renderDetails(S, id === "compare" ? "compare" : "cell", info.object);
  else if (id === "scenario") renderDetails(S, "scenario", info.object);
}

function focusItem(item) {
  if (!item) return;
  if (item.position) map.flyTo({ center: item.position, zoom: Math.max(map.getZoom(), 15), duration: 800 });
  if (item.kind === "report") renderDetails(S, "report", item);
  else if (item.category !== undefined && item.ts) renderDetails(S, "event", item);
}

function onSearchPick(r) {
  if (r.position) map.flyTo({ center: r.position, zoom: Math.max(map.getZoom(), r.zoom ?? 15), duration: 800 });
  if (r.kind === "camera") showCamera(r.ref);
  else if (r.kind === "incident") openIncident(S, r.ref.incident_id, renderInc).then(() => selectTab("details"));
}

// ---------------------------------------------------------------- export

function currentGeoJSON() {
  const name = S.current;
  const feature = (geometry, properties) => ({ type: "Feature", geometry, properties });
  const pt = (d) => ({ type: "Point", coordinates: d.position });
  const hex = (cell) => ({ type: "Polygon", coordinates: [ringOf(cell)] });
  const strip = ({ position: _p, ...rest }) => rest;
  switch (name) {
    case "cells":
      return S.drawnCells.map((d) => feature(hex(d.cell), { cell: d.cell, count: d.count, window: S.time.window,
        category: S.category || null, mode: S.time.mode, at: new Date(S.time.t).toISOString() }));
    case "hotspots":
      return S.hotspots.map((d) => feature(hex(d.cell), strip(d)));
    case "compare":
      return S.compare.cells.map((d) => feature(hex(d.cell), strip(d)));
    case "cameras":
      return S.cameras.map((d) => feature(pt(d), strip(d)));
    case "events":
      return S.drawnEvents.map((d) => feature(pt(d), { ...strip(d), ts: new Date(d.ts).toISOString() }));
    case "reports":
      return S.reports.map((d) => feature(pt(d), strip(d)));
    case "scenario":
      return S.scenario.shown;
    case "camera_coverage":
      return itemsOf(S.coverage);
    default:
      return itemsOf(S.base[name]);
  }
}

function doExport(kind) {
  const stamp = new Date().toISOString().slice(0, 16).replace(/[-:T]/g, "");
  try {
    if (kind === "png") {
      exportPNG(map, overlay, `langson-ioc-${stamp}.png`, [t("title"), `${$("time-label").textContent} · ${t("synthetic_note")}`]);
    } else if (kind === "geojson" && (BASE_LAYERS[S.current] || S.current === "camera_coverage")) {
      // The map holds display variants of the city layers; the export is the full-precision layer.
      const name = S.current;
      getJSON(`/layers/${name}`, undefined, { timeout: 60000 })
        .then((fc) => exportGeoJSON({ ...fc, name }, `langson-${name}-${stamp}.geojson`))
        .catch((err) => banner(err.message));
    } else if (kind === "geojson") {
      const features = currentGeoJSON();
      if (!features.length) throw new Error(t("nothing_to_export"));
      exportGeoJSON({ type: "FeatureCollection", name: S.current,
        properties: { layer: S.current, exported_at: new Date().toISOString(), synthetic: true },
        features }, `langson-${S.current}-${stamp}.geojson`);
    } else {
      const layers = [];
      for (const name of ["wards_2025", "roads", "river"]) if (S.base[name]) layers.push({ name, data: S.base[name] });
      const cur = currentGeoJSON();
      if (cur.length) layers.push({ name: S.current, data: { type: "FeatureCollection", features: cur } });
      const c = map.getCenter();
      exportHTML(window.__ASSETS__?.snapshot, `langson-${S.current}-${stamp}.html`, {
        title: `${t("title")} — ${t(`l_${S.current}`)}`,
        view: { longitude: c.lng, latitude: c.lat, zoom: map.getZoom(), pitch: map.getPitch(), bearing: map.getBearing() },
        layers,
      }).catch((err) => banner(err.message));
    }
    banner(t("exported", { what: kind.toUpperCase() }), "info");
  } catch (err) {
    banner(err.message);
  }
  setTimeout(() => banner(S.api.up ? null : S.api.message), 3000);
}

// ---------------------------------------------------------------- controls

function bindControls() {
  $("btn-lang").onclick = () => setLang(getLang() === "vi" ? "en" : "vi");
  $("btn-help").onclick = openHelp;
  bindDialog($("help"));
  $("btn-play").onclick = togglePlay;
  $("btn-live").onclick = goLive;
  $("time-slider").oninput = (e) => {
    S.time.playing = false;
    seek(sliderToTime(e.target.value));
  };
  $("sel-speed").onchange = (e) => {
    S.time.speed = Number(e.target.value);
  };
  $("sel-category").onchange = (e) => {
    S.category = e.target.value;
    loadCells();
    loadHotspots();
  };
  $("sel-window").onchange = (e) => {
    S.time.window = e.target.value;
    loadCells();
    loadHotspots();
    loadHistory();
  };
  $("sel-run").onchange = (e) => selectRun(e.target.value);
  $("sel-run").onfocus = () => loadScenarios();
  $("sel-compare").onfocus = () => loadScenarios();
  $("sel-run-layer").onchange = (e) => loadScenarioLayer(e.target.value);
  $("sel-compare").onchange = (e) => {
    S.compare.with = e.target.value || null;
    loadCompare();
  };
  $("sim-slider").oninput = (e) => setSimTime(Number(e.target.value));
  $("sel-compare-metric").onchange = (e) => {
    S.compare.metric = e.target.value;
    applyCompareMetric();
  };
  $("btn-sim-play").onclick = toggleSimPlay;
  $("chk-swipe").onchange = (e) => setSwipe(e.target.checked);
  $("btn-export-png").onclick = () => doExport("png");
  $("btn-export-geojson").onclick = () => doExport("geojson");
  $("btn-export-html").onclick = () => doExport("html");
  bindTabs();
  bindSearch(S, $("search"), $("search-results"), onSearchPick);

  document.addEventListener("keydown", onKey);
  // A click on the map gives the focus to MapLibre's canvas: arrows then pan, they never step time.
  $("map").addEventListener("pointerdown", () => {
    const canvas = map.getCanvas();
    if (document.activeElement !== canvas) canvas.focus({ preventScroll: true });
  });
}

/**
 * The right panel's tabs (WAI-ARIA tabs): a click or Enter selects one; ← → Home End move between the
 * tabs shown (roving tabindex), so every tab is reachable from the keyboard.
 */
function bindTabs() {
  const tabs = () => TABS.map((name) => $(`tab-${name}`)).filter((el) => el && !el.hidden);
  for (const name of TABS) {
    const el = $(`tab-${name}`);
    el.onclick = () => selectTab(name);
    el.onkeydown = (e) => {
      const shown = tabs();
      const i = shown.indexOf(el);
      const j = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: shown.length - 1 }[e.key];
      if (j === undefined) return;
      e.preventDefault();
      e.stopPropagation(); // arrows on a tab move between tabs, never the time
      const next = shown[(j + shown.length) % shown.length];
      selectTab(next.id.slice(4));
      next.focus();
    };
  }
}

/** Open the keyboard help as a modal dialog; closing it gives the focus back to where it was. */
function openHelp() {
  const dlg = $("help");
  if (dlg.open) return;
  dlg.opener = document.activeElement;
  dlg.showModal();
  dlg.querySelector("button")?.focus();
}

/** A modal dialog keeps Tab inside it and returns the focus to its opener when it closes. */
function bindDialog(dlg) {
  dlg.addEventListener("keydown", (e) => {
    if (e.key !== "Tab") return;
    const items = [...dlg.querySelectorAll("button, [href], input, select, textarea, [tabindex]:not([tabindex='-1'])")]
      .filter((el) => !el.disabled && el.offsetParent !== null);
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  });
  dlg.addEventListener("close", () => {
    const back = dlg.opener;
    dlg.opener = null;
    if (back && back.isConnected && back !== document.body) back.focus();
  });
}

/** Text fields take every key; other controls keep only the keys they use themselves. */
function ownsKey(target, k) {
  const tag = target?.tagName;
  if (target?.isContentEditable || tag === "TEXTAREA") return true;
  if (tag === "INPUT") {
    const type = (target.type || "text").toLowerCase();
    if (!["range", "checkbox", "radio", "button", "submit", "file"].includes(type)) return true; // typing
    if (type === "range") return k.startsWith("Arrow") || k === "Home" || k === "End" || k === "PageUp" || k === "PageDown";
    return k === " " || k === "Enter";
  }
  if (tag === "SELECT") return k.startsWith("Arrow") || k === " " || k === "Enter" || k === "Home" || k === "End";
  if (tag === "BUTTON" || tag === "A" || tag === "SUMMARY") return k === " " || k === "Enter";
  if (tag === "DIALOG" || target?.closest?.("dialog[open]")) return k !== "Escape";
  return false;
}

function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const k = e.key;
  if (ownsKey(e.target, k)) return;
  const onMap = $("map").contains(e.target);
  if (S.field && !["Escape", "e", "E", "?", "/"].includes(k)) return; // the phone view has no replay or layers
  if (!can("events:read") && [" ", "ArrowLeft", "ArrowRight", "l", "L"].includes(k)) return; // no replay here
  if (k === " ") {
    e.preventDefault();
    togglePlay();
  } else if (k === "ArrowLeft" || k === "ArrowRight") {
    if (onMap) return; // the map pans with arrows when it has the focus
    e.preventDefault();
    S.time.playing = false;
    seek((S.time.mode === "live" ? Date.now() : S.time.t) + (k === "ArrowLeft" ? -5 : 5) * 60000);
  } else if (k === "l" || k === "L") goLive();
  else if (k === "e" || k === "E") setLang(getLang() === "vi" ? "en" : "vi");
  else if (k === "?") openHelp();
  else if (k === "/") {
    e.preventDefault();
    $("search").focus();
  } else if (k === "Escape") {
    S.selectedCamera = null;
    selectTab(S.homeTab ?? "alerts");
    render();
  } else if (/^[1-9]$/.test(k)) {
    const name = layerOrder(S)[Number(k) - 1];
    if (name) toggleLayer(name, !S.visible[name]);
  }
}

// ---------------------------------------------------------------- start-up

/** Record when a start-up step finished (ms since navigation) in S.timings, for the benchmark. */
function timed(name, promise) {
  return promise.finally(() => {
    S.timings[name] = Math.round(performance.now());
  });
}

/** Load what the first frame shows; deck.gl gets it as one update when all of it is in. */
async function loadAll({ base = FIRST_BASE, mapReady = Promise.resolve() } = {}) {
  S.holdRender = true;
  try {
    await Promise.all([
      ...base.map((name) => timed(name, loadBaseLayer(name, mapReady))),
      ...(FIELD ? [] : [can("cameras:read") ? timed("cameras", loadCameras()) : null,
        timed("cells", loadCells()), timed("hotspots", loadHotspots())]),
      timed("alerts", loadAlerts()),
    ]);
    // The peer of the benchmark (?raw=1) draws its hexagons from raw events: its first complete frame
    // needs all of them, so it waits here; the normal page draws server aggregates and loads them after.
    if (RAW && can("events:read")) await loadHistory();
  } finally {
    S.holdRender = false;
  }
  render();
}

/** Load what the first frame does not show: hidden layers, reports, runs, the replay history. */
function loadLater() {
  for (const name of Object.keys(BASE_LAYERS)) if (!S.base[name]) loadBaseLayer(name);
  if (!S.coverage) loadCoverage();
  loadReports();
  if (can("scenarios:read")) loadScenarios();
  if (!RAW && can("events:read")) loadHistory();
  if (!FIELD && can("forecast:read")) refreshForecast();
}

/** Load the next-hour forecast and draw its panel (under the layer list) and layer. */
function refreshForecast() {
  let el = $("forecast-panel");
  if (!el) {
    el = document.createElement("section");
    el.id = "forecast-panel";
    el.className = "forecast-panel";
    $("panel-layers").appendChild(el);
  }
  loadForecast(S, getJSON, () => {
    renderForecastPanel(S, el, render);
    render();
  });
}

/** Resolve when the first complete frame is on screen (map idle, then two more frames). */
function markReady() {
  return new Promise((resolve) => {
    map.once("idle", () => {
      requestAnimationFrame(() => requestAnimationFrame(() => {
        S.ready = true;
        S.readyAt = performance.now();
        S.timings.ready = Math.round(S.readyAt);
        S.timings.frames_map = S.frames.map;
        S.timings.frames_deck = S.frames.deck;
        document.body.dataset.ready = "1";
        resolve();
      }));
    });
    map.triggerRepaint();
  });
}

async function main() {
  setLang(initialLang());
  if (FIELD) {
    document.body.classList.add("field");
    $("field").hidden = false;
  }
  onLangChange(() => {
    renderCameras();
    renderLayers();
    renderInc();
    renderFeed(S, focusItem);
    renderCategories();
    renderCameraSummary();
    rerenderDetails();
    renderAuthor(S);
    if (S.scenario.layers?.length) {
      const cur = $("sel-run-layer").value;
      $("sel-run-layer").innerHTML = S.scenario.layers.map((n) => `<option value="${esc(n)}">${esc(layerTitle(n))}</option>`).join("");
      $("sel-run-layer").value = cur;
    }
    renderStreamStatus();
    render();
  });
  const who = whoami(3);
  try {
    S.config = await getJSON("/config", undefined, { timeout: 5000 });
  } catch {
    S.config = { center: { lon: 106.7578, lat: 21.8478 }, zoom: 12.2, h3_res: 9, basemap_url: null };
    S.api = { up: false, message: t("api_trying", { age: "" }) };
    banner(S.api.message);
  }
  setTimeZone(S.config.timezone); // the zone times are read in (twin/crs.py, via GET /config)
  S.who = await who;
  if (!FIELD) applyAccess();
  relabel(); // the page's words for this account (title, search hint)
  // The category table: the legend, the category filter, colours and labels follow it.
  setCategories(S.config.categories);
  S.categories = eventCategories();
  renderCategories();
  S.res = S.config.h3_res ?? 9;
  S.history = new EventHistory();
  if (window.__ASSETS__?.worker) maplibregl.setWorkerUrl(window.__ASSETS__.worker);
  const online = Boolean(S.config.basemap_url);
  map = new maplibregl.Map({
    container: "map",
    style: online ? S.config.basemap_url : offlineStyle(),
    center: [S.config.center.lon, S.config.center.lat],
    zoom: S.config.zoom ?? 12.2,
    pitch: 45,
    bearing: -12,
    // No symbol layers fade in: a fade would only add frames (each costly in software WebGL).
    fadeDuration: 0,
    maxPitch: 70,
    attributionControl: { compact: true, customAttribution: "Ranh giới / boundaries: sapnhap.bando.com.vn" },
    // No multisampling: MapLibre's lines and fills carry their own antialiasing, and MSAA made each frame
    // 2-3x dearer in software WebGL (SwiftShader, 1920×1080: ≈ 720 → 300 ms a frame).
    canvasContextAttributes: { preserveDrawingBuffer: true, antialias: false },
  });
  window.__map = map;
  // The attribution starts folded (its "i" opens it): on a phone the open box covered the map.
  map.once("load", () => document.querySelector(".maplibregl-ctrl-attrib")?.classList.remove("maplibregl-compact-show"));
  map.addControl(new maplibregl.NavigationControl({ visualizePitch: true }), "top-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-right");
  // Overlaid (deck.gl's own canvas above the map): interleaved mode does not run on MapLibre 6 yet.
  overlay = new MapboxOverlay({
    interleaved: false,
    layers: [],
    getTooltip: (info) => tooltip(S, info),
    onClick,
    onAfterRender: () => {
      if (!S.ready) S.frames.deck += 1;
    },
  });
  map.addControl(overlay);
  window.__deck = overlay;
  bindControls();
  initAuthor({ S, map, render, openResult });
  renderLayers();
  renderInc();
  renderFeed(S, focusItem);
  setInterval(() => {
    $("clock").textContent = fmtTime(Date.now());
    if (S.stream.state === "down" || S.stream.state === "connecting") renderStreamStatus();
    renderOutage();
  }, 1000);

  S.timings.script = Math.round(performance.now());
  map.on("render", () => {
    if (!S.ready) S.frames.map += 1;
  });
  // The data loads while MapLibre loads its worker and style (index.html started the requests).
  const mapReady = new Promise((resolve) => {
    if (map.loaded()) resolve();
    else map.once("load", resolve);
  }).then(() => {
    S.timings.map_load = Math.round(performance.now());
    if (online) addOverOnlineStyle(map);
  });
  map.on("move", () => {
    if (S.swipe.on) render(); // the split follows the view
  });
  map.on("zoomend", () => {
    const z = Math.round(map.getZoom() * 2) / 2;
    if (z !== S.zoom) {
      S.zoom = z;
      render();
    }
  });
  S.zoom = Math.round(map.getZoom() * 2) / 2;
  await loadAll({ mapReady });
  await mapReady;
  await markReady();
  if (FIELD) {
    // Field staff: their unit's incidents, refreshed; no replay, scenarios or event history.
    setInterval(() => loadIncidents(S, renderInc), 20000);
    return;
  }
  startStream();
  loadLater();

  health = watchHealth({
    every: 5000,
    onDown: () => {
      S.api = { up: false, message: "" };
      renderOutage();
    },
    onUp: async () => {
      S.api = { up: true, message: "" };
      banner(t("api_back"), "info");
      setTimeout(() => banner(S.api.up ? null : S.api.message), 3000);
      if (!S.who) {
        // Started while the server was away: learn who is signed in now, and fit the page to it.
        S.who = await whoami(1);
        if (S.who) {
          applyAccess();
          relabel();
          renderLayers();
          if (!can("events:read")) {
            stream.close();
            startStream();
          }
        }
      }
      stream.reconnect();
      // The city layers do not change while the server is away: reload the live data only.
      loadAll({ base: FIRST_BASE.filter((n) => !S.base[n]) }).then(loadLater);
    },
  });
  if (!S.api.up) health.report({ status: 0, message: S.api.message });

  // Keep the aggregates fresh; redraw the live clock.
  setInterval(() => {
    if (S.api.up && S.time.mode === "live") {
      loadCells();
      loadHotspots();
    }
  }, 30000);
  setInterval(() => {
    if (S.api.up) {
      if (can("cameras:read")) loadCameraSummary();
      if (can("scenarios:read")) loadScenarios();
    }
    S.history.dropBefore(Date.now() - 25 * HOUR);
  }, 60000);
  setInterval(() => {
    if (S.time.mode === "live") render();
  }, 5000);
}

main().catch((err) => {
  banner(t("viewer_error"));
  console.error(err);
  document.body.dataset.ready = "error";
});
