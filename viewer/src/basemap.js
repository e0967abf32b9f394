// The base map drawn by MapLibre from the twin's own layers (no tiles, no glyphs, no request outside
// this server): wards 2025, pre-2025 units, roads by class, the river. With TWIN_BASEMAP_URL set, an
// online style goes underneath and these layers are drawn on top of it.
import { ROAD_STYLE } from "./data.js";

const EMPTY = { type: "FeatureCollection", features: [] };

/** MapLibre layer ids of each toggleable base layer. */
export const BASE_LAYERS = {
  wards_2025: ["wards-fill", "wards-core", "wards-line"],
  units_pre2025: ["units-line"],
  roads: ["roads-casing", "roads-line"],
  river: ["river-line"],
};

function roadMatch(index) {
  const m = ["match", ["coalesce", ["get", "road_class"], ["get", "class"], ["get", "highway"], ""]];
  for (const [cls, style] of Object.entries(ROAD_STYLE)) m.push(cls, style[index]);
  m.push(index === 0 ? "#adb5bd" : 1);
  return m;
}

function ourLayers() {
  // "zoom" may only sit in a top-level interpolate: the casing adds its margin inside each stop.
  const widthByZoom = (pad = 0) => ["interpolate", ["linear"], ["zoom"], 10, ["+", pad, ["*", 0.45, roadMatch(1)]],
    14, ["+", pad, roadMatch(1)], 17, ["+", pad, ["*", 2.4, roadMatch(1)]]];
  return [
    {
      id: "wards-fill", type: "fill", source: "wards_2025",
      // Opaque: the colours are the old 0.9-opacity fills over the background, drawn without blending
      // (MapLibre's opaque pass is cheaper in software WebGL). Over an online basemap: 0.15 opacity.
      paint: { "fill-color": ["case", ["to-boolean", ["get", "core_city_ward"]], "#1d2c3a", "#17222c"],
        "fill-opacity": 1 },
    },
    {
      id: "wards-core", type: "line", source: "wards_2025",
      filter: ["to-boolean", ["get", "core_city_ward"]],
      paint: { "line-color": "#4dabf7", "line-width": 2.2, "line-opacity": 0.9 },
    },
    {
      id: "wards-line", type: "line", source: "wards_2025",
      paint: { "line-color": "#5c7080", "line-width": 1, "line-dasharray": [3, 2] },
    },
    {
      id: "units-line", type: "line", source: "units_pre2025",
      layout: { visibility: "none" },
      paint: { "line-color": "#b197fc", "line-width": 1.2, "line-dasharray": [1, 1.5] },
    },
    {
      id: "river-line", type: "line", source: "river",
      paint: { "line-color": "#3b8fd9", "line-width": ["interpolate", ["linear"], ["zoom"], 10, 2.5, 15, 9],
        "line-opacity": 0.9 },
      layout: { "line-cap": "round", "line-join": "round" },
    },
    {
      id: "roads-casing", type: "line", source: "roads",
      minzoom: 12.5,
      paint: { "line-color": "#0b1218", "line-width": widthByZoom(1.5) },
      layout: { "line-cap": "round", "line-join": "round" },
    },
    {
      id: "roads-line", type: "line", source: "roads",
      paint: { "line-color": roadMatch(0), "line-width": widthByZoom() },
      layout: { "line-cap": "round", "line-join": "round" },
    },
  ];
}

function sources() {
  const src = {};
  for (const name of Object.keys(BASE_LAYERS)) src[name] = { type: "geojson", data: EMPTY, tolerance: 0.2 };
  return src;
}

/** Return the inline offline style: a dark background and our GeoJSON sources (filled later). */
export function offlineStyle() {
  return {
    version: 8,
    name: "Lạng Sơn twin (offline)",
    sources: sources(),
    layers: [{ id: "background", type: "background", paint: { "background-color": "#0e151c" } },
      ...ourLayers()],
  };
}

/** Add our sources and layers on top of an online style (once it has loaded). */
export function addOverOnlineStyle(map) {
  for (const [name, src] of Object.entries(sources())) if (!map.getSource(name)) map.addSource(name, src);
  for (const layer of ourLayers()) {
    if (map.getLayer(layer.id)) continue;
    if (layer.id === "wards-fill") layer.paint["fill-opacity"] = 0.15;
    map.addLayer(layer);
  }
}

/** Put a loaded FeatureCollection into the base map source of `name`. */
export function setBaseData(map, name, fc) {
  const src = map.getSource(name);
  if (src) src.setData(fc);
}

/** Show or hide the MapLibre layers of a base layer. */
export function setBaseVisible(map, name, visible) {
  for (const id of BASE_LAYERS[name] ?? []) {
    if (map.getLayer(id)) map.setLayoutProperty(id, "visibility", visible ? "visible" : "none");
  }
}
