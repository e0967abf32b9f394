// deck.gl layers of the viewer, built from the viewer state on every change (deck.gl diffs them).
import { GeoJsonLayer, ScatterplotLayer, TextLayer } from "@deck.gl/layers";
import { H3HexagonLayer, TripsLayer } from "@deck.gl/geo-layers";
import { CAMERA_COLORS, categoryColor, numberOf } from "./data.js";
import { getLang } from "./i18n.js";

const ALWAYS_ON_TOP = { depthCompare: "always" };
// One object each, not a new one per update: deck.gl then sees nothing changed between updates.
const CELL_MATERIAL = { ambient: 0.55, diffuse: 0.6, shininess: 24 };
const CELL_TRANSITIONS = { getElevation: 300 };

/** Sequential ramp (yellow → dark red) for event counts. */
export const COUNT_RAMP = [
  [255, 255, 178], [254, 217, 118], [254, 178, 76], [253, 141, 60], [240, 59, 32], [189, 0, 38],
];
/** Red → yellow → green for speeds (slow is red). */
export const SPEED_RAMP = [[215, 48, 39], [252, 141, 89], [254, 224, 139], [145, 207, 96], [26, 152, 80]];
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
export function buildLayers(S) {
  const v = S.visible;
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
    layers.push(new H3HexagonLayer({
      id: "compare", data: S.compare.cells, getHexagon: (d) => d.cell, pickable: true,
      extruded: false, stroked: true, getLineColor: [255, 255, 255, 60], lineWidthMinPixels: 0.5,
      getFillColor: (d) => [...ramp(DIFF_RAMP, 0.5 + d.value / (2 * maxAbs)), 200],
    }));
  }

  if (v.scenario && S.scenario.shown.length) {
    const style = S.scenario.style;
    const colorOf = S.scenario.colorOf ?? ((f) => scenarioColor(style, f.properties, S.scenario.maxSpeed));
    const trips = S.scenario.mode === "trips";
    layers.push(new GeoJsonLayer({
      id: "scenario", data: S.scenario.shown, pickable: true,
      lineWidthUnits: "pixels", getLineWidth: style === "route" ? 2 : 3, lineWidthMinPixels: 1.5,
      pointRadiusUnits: "pixels", getPointRadius: 6, stroked: true, filled: true,
      getLineColor: (f) => [...colorOf(f), trips ? 90 : 235],
      getFillColor: (f) => [...colorOf(f), 220],
      parameters: ALWAYS_ON_TOP,
      updateTriggers: { getLineColor: [style, S.scenario.t], getFillColor: [style, S.scenario.t] },
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
    layers.push(new H3HexagonLayer({
      id: "cells", data: S.drawnCells, getHexagon: (d) => d.cell, pickable: true,
      extruded: true, elevationScale: 1, getElevation: (d) => 40 + 900 * Math.sqrt(d.count / max),
      getFillColor: (d) => [...ramp(COUNT_RAMP, Math.log1p(d.count) / Math.log1p(max)), 210],
      material: CELL_MATERIAL, transitions: CELL_TRANSITIONS,
      updateTriggers: { getElevation: [S.drawnSignature], getFillColor: [S.drawnSignature] },
    }));
  }

  if (v.hotspots && S.time.mode === "live" && S.hotspots.length) {
    layers.push(new H3HexagonLayer({
      id: "hotspots", data: S.hotspots.filter((d) => d.hotspot !== "none"), getHexagon: (d) => d.cell,
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
    layers.push(new ScatterplotLayer({
      id: "cameras", data: S.cameras, getPosition: (d) => d.position, pickable: true,
      radiusUnits: "pixels", getRadius: (d) => (d.camera_id === S.selectedCamera ? 10 : 6),
      stroked: true, lineWidthUnits: "pixels", getLineWidth: (d) => (d.camera_id === S.selectedCamera ? 3 : 1.5),
      getFillColor: (d) => [...(CAMERA_COLORS[d.status] ?? CAMERA_COLORS.not_connected), 255],
      getLineColor: [10, 10, 10, 255], parameters: ALWAYS_ON_TOP,
      updateTriggers: {
        getFillColor: [S.cameraVersion], getRadius: [S.selectedCamera], getLineWidth: [S.selectedCamera],
      },
    }));
  }
  return layers;
}
