// deck.gl layers of the viewer, built from the viewer state on every change (deck.gl diffs them).
import { GeoJsonLayer, PolygonLayer, ScatterplotLayer, TextLayer } from "@deck.gl/layers";
import { TripsLayer } from "@deck.gl/geo-layers";
import { CAMERA_COLORS, categoryColor, numberOf, ringOf } from "./data.js";
import { getLang } from "./i18n.js";

const ALWAYS_ON_TOP = { depthCompare: "always" };
// One object each, not a new one per update: deck.gl then sees nothing changed between updates.
const CELL_MATERIAL = { ambient: 0.55, diffuse: 0.6, shininess: 24 };
const CELL_TRANSITIONS = { getElevation: 300 };
// H3 cells are drawn from the rings the server sent with them (no H3 library in the browser).
const cellRing = (d) => ringOf(d.cell);

/** Sequential ramp (yellow → dark red) for event counts. */
export const COUNT_RAMP = [
  [255, 255, 178], [254, 217, 118], [254, 178, 76], [253, 141, 60], [240, 59, 32], [189, 0, 38],
];
/** Red → yellow → green for speeds (slow is red). */
export const SPEED_RAMP = [[215, 48, 39], [252, 141, 89], [254, 224, 139], [145, 207, 96], [26, 152, 80]];
/** A closed link (a road closure in force): magenta, unmistakable against the speed ramp. */
export const CLOSED_COLOR = [233, 30, 200];
/** A link nothing left in the shown bin: no speed to show, drawn grey (never as free flow). */
export const NO_FLOW_COLOR = [120, 130, 140];
/** Green → red for bin fill. */
export const FILL_RAMP = [[26, 152, 80], [145, 207, 96], [254, 224, 139], [252, 141, 89], [215, 48, 39]];
/** Blue → white → red for differences. */
export const DIFF_RAMP = [[33, 102, 172], [103, 169, 207], [209, 229, 240], [247, 247, 247],
  [253, 219, 199], [239, 138, 98], [178, 24, 43]];

/** Return the ramp colour at position x in [0, 1]. */
export function ramp(colors, x) {
  const v = Math.max(0, Math.min(1, Number.isFinite(x) ? x : 0));
  const i = Math.min(colors.length - 1, Math.floor(v * colors.length));
  return colors[i];
}

/** Property names the simulation layers may use, in order of preference. */
export const SPEED_KEYS = ["speed_kmh", "mean_speed_kmh", "speed", "v_kmh"];
export const FILL_KEYS = ["fill_pct", "fill", "fill_level", "fill_ratio", "load_pct"];
export const DIFF_KEYS = ["diff", "delta", "difference", "value", "d"];

/** Decide how a simulation layer is coloured: by speed, by fill, by truck/route, or plain. */
export function scenarioStyle(features) {
  const p = features.find((f) => f.properties)?.properties ?? {};
  if (SPEED_KEYS.some((k) => k in p)) return "speed";
  if (FILL_KEYS.some((k) => k in p)) return "fill";
  if (["truck_id", "truck", "vehicle", "route_id", "route"].some((k) => k in p)) return "route";
  return "plain";
}

function fillValue(p) {
  const v = numberOf(p, FILL_KEYS);
  return v <= 1.0001 && !("fill_pct" in p) && !("load_pct" in p) ? v * 100 : v;
}

export function routeColor(p) {
  const id = String(p.truck_id ?? p.truck ?? p.vehicle ?? p.route_id ?? p.route ?? "");
  let h = 7;
  for (const ch of id) h = (h * 131 + ch.charCodeAt(0)) >>> 0;
  const palette = [[0, 184, 212], [255, 214, 0], [213, 0, 249], [118, 255, 3], [255, 109, 0], [41, 121, 255]];
  return palette[h % palette.length];
}

/** Return the fill/line colour of a simulation feature for a style. */
export function scenarioColor(style, p, maxSpeed) {
  if (style === "speed") {
    const limit = numberOf(p, ["speed_limit_kmh", "free_speed_kmh", "vmax_kmh"]);
    const v = numberOf(p, SPEED_KEYS);
    return ramp(SPEED_RAMP, v / (Number.isFinite(limit) && limit > 0 ? limit : maxSpeed || 60));
  }
  if (style === "fill") return ramp(FILL_RAMP, fillValue(p) / 100);
  if (style === "route") return routeColor(p);
  return [0, 229, 255];
}

/** Build the deck.gl layers for the current state `S`. */
/** Zoom below which cameras are drawn as clusters. */
export const CLUSTER_BELOW_ZOOM = 14;
/** Zoom from which the hexagons lie flat (streets and labels stay readable). */
export const FLAT_FROM_ZOOM = 15;

/**
 * Group points into screen-sized grid cells (`px` pixels at zoom `z`, Web Mercator): one cluster per
 * occupied cell at the mean position of its members. Returns [{position, count, members, status}].
 */
export function clusterPoints(points, z, px = 56) {
  const cellDeg = (px * 360) / (256 * 2 ** z);
  const groups = new Map();
  for (const p of points) {
    const [lon, lat] = p.position;
    const y = Math.log(Math.tan(Math.PI / 4 + (lat * Math.PI) / 360)) * (180 / Math.PI); // mercator degrees
    const key = `${Math.floor(lon / cellDeg)}:${Math.floor(y / cellDeg)}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { members: [], lon: 0, lat: 0 }));
    g.members.push(p);
    g.lon += lon;
    g.lat += lat;
  }
  return [...groups.values()].map((g) => {
    const n = g.members.length;
    const offline = g.members.filter((m) => m.status === "offline").length;
    const online = g.members.filter((m) => m.status === "online").length;
    return { position: [g.lon / n, g.lat / n], count: n, members: g.members, offline, online,
      status: offline ? "offline" : online ? "online" : "not_connected" };
  });
}

const INCIDENT_COLORS = { high: [255, 61, 0], critical: [213, 0, 0], medium: [255, 179, 0], low: [120, 200, 255] };

/** Layers of the live city that step aside while a simulation run is shown on the map. */
export const LIVE_LAYERS = ["cells", "hotspots", "events", "reports", "cameras", "camera_coverage", "incidents"];

/** Return whether a simulation run (its layer or a difference map) is on the map. */
export function runShown(S) {
  return Boolean(S.scenario?.run && ((S.visible.scenario && S.scenario.shown.length)
    || (S.visible.compare && S.compare.cells.length)));
}

export function buildLayers(S) {
  const run = runShown(S);
  // While a run is shown the live layers step aside: the map answers one question at a time.
  const v = run ? { ...S.visible, ...Object.fromEntries(LIVE_LAYERS.map((k) => [k, false])) } : S.visible;
  const layers = [];
  const lang = getLang();

  if (v.camera_coverage && S.coverage) {
    layers.push(new GeoJsonLayer({
      id: "camera_coverage", data: S.coverage, filled: true, stroked: false, pickable: false,
      getFillColor: [0, 188, 212, 45],
    }));
  }

  if (v.wards_2025 && S.wardLabels.length) {
    layers.push(new TextLayer({
      id: "ward-labels", data: S.wardLabels, characterSet: "auto",
      fontFamily: "Noto Sans, DejaVu Sans, Arial, sans-serif", fontWeight: 600,
      getPosition: (d) => d.position,
      getText: (d) => (lang === "en" ? d.name_en || d.name : d.name),
      getSize: (d) => (d.core ? 15 : 12), sizeUnits: "pixels",
      getColor: (d) => (d.core ? [220, 235, 255, 235] : [160, 175, 190, 200]),
      outlineWidth: 3, outlineColor: [14, 21, 28, 255], fontSettings: { sdf: true },
      parameters: ALWAYS_ON_TOP, updateTriggers: { getText: lang },
    }));
  }

  if (v.compare && S.compare.cells.length) {
    const maxAbs = S.compare.maxAbs || 1;
    layers.push(new PolygonLayer({
      id: "compare", data: S.compare.cells, getPolygon: cellRing, pickable: true,
      extruded: false, stroked: true, getLineColor: [255, 255, 255, 60], lineWidthMinPixels: 0.5,
      // Small changes fade out (alpha grows with |change|): no pale blanket over cells that barely move.
      getFillColor: (d) => [...ramp(DIFF_RAMP, 0.5 + d.value / (2 * maxAbs)),
        Math.round(40 + 190 * Math.sqrt(Math.min(1, Math.abs(d.value) / maxAbs)))],
      updateTriggers: { getFillColor: [S.compare.metric, maxAbs] },
    }));
  }

  if (v.scenario && S.scenario.shown.length) {
    const style = S.scenario.style;
    const colorOf = S.scenario.colorOf ?? ((f) => scenarioColor(style, f.properties, S.scenario.maxSpeed));
    const trips = S.scenario.mode === "trips";
    layers.push(new GeoJsonLayer({
      id: "scenario", data: S.scenario.shown, pickable: true,
      lineWidthUnits: "pixels", lineWidthMinPixels: 1.5,
      getLineWidth: (f) => (style === "route" ? 2 : colorOf(f) === CLOSED_COLOR ? 6 : 3),
      pointRadiusUnits: "pixels", getPointRadius: 6, stroked: true, filled: true,
      getLineColor: (f) => [...colorOf(f), trips ? 90 : 235],
      getFillColor: (f) => [...colorOf(f), 220],
      parameters: ALWAYS_ON_TOP,
      updateTriggers: {
        getLineColor: [style, S.scenario.t], getFillColor: [style, S.scenario.t], getLineWidth: [style, S.scenario.t],
      },
    }));
    if (trips) {
      layers.push(new TripsLayer({
        id: "scenario-trips", data: S.scenario.trips, getPath: (d) => d.path, getTimestamps: (d) => d.timestamps,
        getColor: (d) => routeColor(d.properties), widthUnits: "pixels", getWidth: 5, capRounded: true,
        jointRounded: true, trailLength: 1800, currentTime: S.scenario.t ?? 0, fadeTrail: true,
        parameters: ALWAYS_ON_TOP,
      }));
    }
  }

  if (v.cells && S.drawnCells.length) {
    const max = Math.max(1, ...S.drawnCells.map((d) => d.count));
    const flat = (S.zoom ?? 12) >= FLAT_FROM_ZOOM;
    layers.push(new PolygonLayer({
      id: "cells", data: S.drawnCells, getPolygon: cellRing, pickable: true,
      extruded: !flat, elevationScale: 1, opacity: flat ? 0.55 : 1, stroked: flat, filled: true,
      getLineColor: [255, 255, 255, 70], lineWidthUnits: "pixels", getLineWidth: 1, getElevation: (d) => 40 + 900 * Math.sqrt(d.count / max),
      getFillColor: (d) => [...ramp(COUNT_RAMP, Math.log1p(d.count) / Math.log1p(max)), 210],
      material: CELL_MATERIAL, transitions: CELL_TRANSITIONS,
      updateTriggers: { getElevation: [S.drawnSignature], getFillColor: [S.drawnSignature] },
    }));
  }

  if (v.hotspots && S.time.mode === "live" && S.hotspots.length) {
    layers.push(new PolygonLayer({
      id: "hotspots", data: S.hotspots.filter((d) => d.hotspot !== "none"), getPolygon: cellRing,
      pickable: true, extruded: false, filled: false, stroked: true, lineWidthUnits: "pixels",
      getLineWidth: 3, getLineColor: (d) => (d.hotspot === "hot" ? [255, 23, 68, 255] : [41, 121, 255, 255]),
      parameters: ALWAYS_ON_TOP,
    }));
  }

  if (v.reports && S.reports.length) {
    layers.push(new ScatterplotLayer({
      id: "reports", data: S.reports, getPosition: (d) => d.position, pickable: true,
      radiusUnits: "pixels", getRadius: 6, stroked: true, lineWidthUnits: "pixels", getLineWidth: 2,
      getFillColor: [186, 104, 200, 230], getLineColor: [255, 255, 255, 255], parameters: ALWAYS_ON_TOP,
    }));
  }

  if (v.events && S.drawnEvents.length) {
    const now = S.time.t;
    layers.push(new ScatterplotLayer({
      id: "events", data: S.drawnEvents, getPosition: (d) => d.position, pickable: true,
      radiusUnits: "pixels", getRadius: (d) => (now - d.ts < 60000 ? 9 : 5),
      stroked: true, lineWidthUnits: "pixels", getLineWidth: 1.5,
      getFillColor: (d) => [...categoryColor(d.category), 235], getLineColor: [15, 15, 15, 255],
      parameters: ALWAYS_ON_TOP, updateTriggers: { getRadius: [Math.floor(now / 5000)] },
    }));
  }

  if (v.cameras && S.cameras.length) {
    const shown = S.showUnconnected ? S.cameras : S.cameras.filter((c) => c.status !== "not_connected");
    const z = S.zoom ?? 12;
    if (z < CLUSTER_BELOW_ZOOM && shown.length > 1) {
      const clusters = clusterPoints(shown, z);
      layers.push(new ScatterplotLayer({
        id: "camera-clusters", data: clusters, getPosition: (d) => d.position, pickable: true,
        radiusUnits: "pixels", getRadius: (d) => (d.count > 1 ? 9 + 3 * Math.sqrt(d.count) : 6),
        stroked: true, lineWidthUnits: "pixels", getLineWidth: 1.5,
        getFillColor: (d) => [...(CAMERA_COLORS[d.status] ?? CAMERA_COLORS.not_connected), 235],
        getLineColor: [10, 10, 10, 255], parameters: ALWAYS_ON_TOP,
        updateTriggers: { getFillColor: [S.cameraVersion] },
      }));
      layers.push(new TextLayer({
        id: "camera-cluster-counts", data: clusters.filter((d) => d.count > 1), getPosition: (d) => d.position,
        getText: (d) => String(d.count), getSize: 12, sizeUnits: "pixels", getColor: [10, 10, 10, 255],
        fontFamily: "Noto Sans, DejaVu Sans, Arial, sans-serif", fontWeight: 700, characterSet: "0123456789",
        parameters: ALWAYS_ON_TOP,
      }));
    } else {
      layers.push(new ScatterplotLayer({
        id: "cameras", data: shown, getPosition: (d) => d.position, pickable: true,
        radiusUnits: "pixels", getRadius: (d) => (d.camera_id === S.selectedCamera ? 10 : 6),
        stroked: true, lineWidthUnits: "pixels", getLineWidth: (d) => (d.camera_id === S.selectedCamera ? 3 : 1.5),
        getFillColor: (d) => [...(CAMERA_COLORS[d.status] ?? CAMERA_COLORS.not_connected), 255],
        getLineColor: [10, 10, 10, 255], parameters: ALWAYS_ON_TOP,
        updateTriggers: {
          getFillColor: [S.cameraVersion], getRadius: [S.selectedCamera], getLineWidth: [S.selectedCamera],
        },
      }));
    }
  }

  const open = run ? [] : [...(S.inc?.items.values() ?? [])].filter((x) => x.position && !["resolved", "closed"].includes(x.status));
  if (open.length) {
    layers.push(new ScatterplotLayer({
      id: "incidents", data: open, getPosition: (d) => d.position, pickable: true,
      radiusUnits: "pixels", getRadius: (d) => (d.incident_id === S.inc.selected ? 14 : 10), filled: true, stroked: true,
      lineWidthUnits: "pixels", getLineWidth: 3, getFillColor: [0, 0, 0, 0],
      getLineColor: (d) => [...(INCIDENT_COLORS[d.severity] ?? INCIDENT_COLORS.medium), 255],
      parameters: ALWAYS_ON_TOP, updateTriggers: { getRadius: [S.inc.selected] },
    }));
  }

  const z = S.zoom ?? 12;
  if (v.roads && S.placeLabels?.length && z >= 14) {
    // Street, bridge and market names from the twin's own layers; glyphs drawn locally (offline).
    const data = S.placeLabels.filter((d) => d.kind !== "street" || z >= 15);
    layers.push(new TextLayer({
      id: "place-labels", data, characterSet: "auto", getPosition: (d) => d.position,
      // a synthetic street name carries its mark on the map too ("*", explained in the roads legend)
      getText: (d) => (d.source === "synthetic" ? `${d.name}*` : d.name),
      getSize: (d) => (d.kind === "street" ? 12 : 13), sizeUnits: "pixels",
      fontFamily: "Noto Sans, DejaVu Sans, Arial, sans-serif", fontWeight: 600,
      getColor: (d) => (d.kind === "market" ? [255, 213, 79, 255] : d.kind === "bridge" ? [129, 212, 250, 255] : [230, 236, 240, 240]),
      outlineWidth: 3, outlineColor: [14, 21, 28, 255], fontSettings: { sdf: true },
      getPixelOffset: [0, -12], parameters: ALWAYS_ON_TOP,
    }));
  }
  return layers;
}
