// Export what the operator sees: the view as PNG, the current layer as GeoJSON, and a one-file
// offline HTML map (the IIFE snapshot bundle inlined with the data; opens from file://).

function download(blob, filename) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => {
    URL.revokeObjectURL(a.href);
    a.remove();
  }, 1000);
}

/** Download the view (base map canvas + deck.gl canvas) as PNG, with a caption band. */
export function exportPNG(map, overlay, filename, lines) {
  const src = map.getCanvas();
  const top = overlay.getCanvas();
  const band = 28 * lines.length + 12;
  const out = document.createElement("canvas");
  out.width = src.width;
  out.height = src.height + band;
  const ctx = out.getContext("2d");
  ctx.fillStyle = "#0e151c";
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.drawImage(src, 0, 0);
  if (top) ctx.drawImage(top, 0, 0, src.width, src.height);
  ctx.fillStyle = "#e6edf3";
  ctx.font = "600 18px 'Noto Sans', 'DejaVu Sans', sans-serif";
  lines.forEach((line, i) => ctx.fillText(line, 12, src.height + 26 + 28 * i));
  out.toBlob((blob) => download(blob, filename), "image/png");
}

/** Download a FeatureCollection as GeoJSON (RFC 7946). */
export function exportGeoJSON(fc, filename) {
  download(new Blob([JSON.stringify(fc)], { type: "application/geo+json" }), filename);
}

/** Download a one-file HTML map: the snapshot bundle and the layers inlined, no request at all. */
export async function exportHTML(snapshotUrl, filename, spec) {
  if (!snapshotUrl) throw new Error("snapshot bundle missing: rebuild the viewer (make viewer)");
  const res = await fetch(snapshotUrl);
  if (!res.ok) throw new Error(`snapshot bundle: HTTP ${res.status}`);
  const js = (await res.text()).replaceAll("</script", "<\\/script");
  const data = JSON.stringify(spec).replaceAll("</", "<\\/");
  const title = spec.title.replace(/[<&]/g, "");
  const html = `<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>${title}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:">
<style>html,body{margin:0;height:100%;background:#0e151c;font-family:sans-serif}#map{position:absolute;inset:0}
h1{position:absolute;z-index:2;top:8px;left:12px;margin:0;color:#e6edf3;font-size:16px;text-shadow:0 0 4px #000}</style>
</head><body><h1>${title}</h1><div id="map"></div>
<script>window.__SNAPSHOT__=${data};</script><script>${js}</script></body></html>`;
  download(new Blob([html], { type: "text/html" }), filename);
}
