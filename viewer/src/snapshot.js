// IIFE entry for one-file offline maps (works from file://): draws window.__SNAPSHOT__ =
// {title, view, layers: [{name, data: FeatureCollection}]} with deck.gl only (no base-map tiles).
import { Deck } from "@deck.gl/core";
import { GeoJsonLayer } from "@deck.gl/layers";

const ROAD = { trunk: [232, 89, 12], primary: [245, 159, 0], secondary: [252, 196, 25], tertiary: [206, 212, 218] };

function styleFor(name) {
  if (name === "wards_2025") return { filled: true, getFillColor: [31, 47, 61, 255], getLineColor: [92, 112, 128, 255], lineWidthMinPixels: 1 };
  if (name === "roads") return { getLineColor: (f) => ROAD[f.properties.road_class] ?? [134, 142, 150, 255], lineWidthMinPixels: 1 };
  if (name === "river") return { getLineColor: [59, 143, 217, 255], lineWidthMinPixels: 3 };
  return {
    filled: true, pickable: true, pointRadiusMinPixels: 4, lineWidthMinPixels: 2,
    getFillColor: [255, 140, 0, 200], getLineColor: [255, 200, 0, 255],
  };
}

/** Render the embedded snapshot into #map. */
export function render(spec = window.__SNAPSHOT__) {
  const layers = spec.layers.map((l) => new GeoJsonLayer({ id: l.name, data: l.data, ...styleFor(l.name) }));
  const deck = new Deck({
    parent: document.getElementById("map"),
    initialViewState: spec.view,
    controller: true,
    layers,
    getTooltip: ({ object }) => object && object.properties
      && Object.entries(object.properties).slice(0, 8).map(([k, v]) => `${k}: ${v}`).join("\n"),
    onAfterRender: () => {
      document.body.dataset.ready = "1";
    },
  });
  window.__deck = deck;
  return deck;
}

if (typeof window !== "undefined" && window.__SNAPSHOT__) render();
