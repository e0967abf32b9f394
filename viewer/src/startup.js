// What the first frame needs, in one place: build.mjs writes PREFETCH into index.html (an inline script
// starts these requests while the bundle downloads and parses), and the bundle asks for the same URLs,
// so api.js hands it the responses already under way. No DOM here: build.mjs imports this file.

/**
 * Display variants of the city layers (GET /layers/{name}?simplify&fields): geometry simplified to 2 m
 * and coordinates at 5 decimals (≈ 1 m), only the properties the map uses. The full-precision layers
 * stay at /layers/{name}; the GeoJSON export of a base layer asks for those.
 */
export const DISPLAY = {
  wards_2025: { simplify: 2 },
  units_pre2025: { simplify: 2 },
  roads: { simplify: 2, fields: "road_class,name,name_source,bridge" },
  river: { simplify: 2 },
  camera_coverage: { simplify: 2, fields: "camera_id" },
};

/** Base layers drawn in the first frame; the others (hidden by default) load after it. */
export const FIRST_BASE = ["wards_2025", "roads", "river"];

/** The live window the page opens on. */
export const START_WINDOW = "6h";

/** [path, params] of every request of the first frame, in the order they should start. */
export function prefetchList({ raw = false } = {}) {
  return [
    ["/config"],
    ...FIRST_BASE.map((name) => [`/layers/${name}`, DISPLAY[name]]),
    ["/cameras"],
    ...(raw ? [] : [["/cells", { window: START_WINDOW }], ["/hotspots", { window: START_WINDOW }]]),
    ["/alerts"],
  ];
}

/**
 * The inline script of index.html (as text): start the first frame's requests at once and keep the
 * response promises in window.__PREFETCH__ (absolute URL → Promise<Response>), plus the MapLibre worker
 * into the HTTP cache. URLs are built as api.js's apiUrl builds them. Not with ?api= (another server).
 */
export function prefetchScript(workerUrl) {
  const lists = { plain: prefetchList(), raw: prefetchList({ raw: true }) };
  return `(() => {
  const q = new URLSearchParams(location.search);
  if (q.get("api")) return;
  const list = ${JSON.stringify(lists)}[q.get("raw") === "1" ? "raw" : "plain"];
  const P = (window.__PREFETCH__ = new Map());
  for (const [path, params] of list) {
    const url = new URL(path, location.href);
    for (const [k, v] of Object.entries(params || {})) url.searchParams.set(k, String(v));
    const p = fetch(url, { headers: { Accept: "application/json" } });
    p.catch(() => {});
    P.set(url.toString(), p);
  }
  ${workerUrl ? `fetch(${JSON.stringify(workerUrl)}).then((r) => r.arrayBuffer()).catch(() => {});` : ""}
})();`;
}
