// Build the IOC viewer into dist/: an ES-module bundle for the live page, an IIFE bundle for
// one-file offline exports (file:// cannot load ES modules or module workers), MapLibre's worker and
// stylesheet copied next to them. Every asset name carries a content hash (served immutable) and gets
// a .gz twin (served to clients that accept gzip). Usage: node build.mjs [--watch]
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync, readdirSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync, constants } from "node:zlib";
import * as esbuild from "esbuild";
import { prefetchScript } from "./src/startup.js";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
const assets = join(dist, "assets");
const watch = process.argv.includes("--watch");

const common = {
  bundle: true,
  minify: !watch && !process.env.VIEWER_DEBUG,
  sourcemap: watch ? "inline" : false,
  target: ["chrome110", "firefox115", "safari16"],
  legalComments: "none",
  logLevel: "warning",
  // deck.gl's loaders keep a CDN default for worker URLs; we never use loader workers, and this
  // keeps the literal "unpkg.com" out of reach of any code path at run time.
  define: { "process.env.NODE_ENV": '"production"' },
};

function hashed(path, name) {
  const buf = readFileSync(path);
  const h = createHash("sha256").update(buf).digest("hex").slice(0, 10);
  const ext = name.endsWith(".mjs") ? ".mjs" : extname(name);
  const out = `${basename(name, ext)}-${h}${ext}`;
  writeFileSync(join(assets, out), buf);
  return out;
}

async function bundle(entry, name, format) {
  const outfile = join(assets, `${name}.tmp.js`);
  await esbuild.build({
    ...common,
    entryPoints: [join(here, "src", entry)],
    outfile,
    format,
    globalName: format === "iife" ? "LangSonSnapshot" : undefined,
  });
  const out = hashed(outfile, `${name}.js`);
  rmSync(outfile);
  return out;
}

export async function build() {
  rmSync(dist, { recursive: true, force: true });
  mkdirSync(assets, { recursive: true });
  const started = Date.now();
  const js = await bundle("main.js", "viewer", "esm");
  const snapshot = await bundle("snapshot.js", "snapshot", "iife");
  const css = hashed(join(here, "src", "style.css"), "viewer.css");
  const mlDist = join(here, "node_modules", "maplibre-gl", "dist");
  const worker = hashed(join(mlDist, "maplibre-gl-worker.mjs"), "maplibre-gl-worker.mjs");
  const mlCss = hashed(join(mlDist, "maplibre-gl.css"), "maplibre-gl.css");
  const manifest = { js, snapshot, css, worker, maplibre_css: mlCss };
  writeFileSync(join(dist, "manifest.json"), JSON.stringify(manifest, null, 2));
  const html = readFileSync(join(here, "src", "index.html"), "utf8")
    .replaceAll("{{JS}}", `/assets/${js}`)
    .replaceAll("{{CSS}}", `/assets/${css}`)
    .replaceAll("{{MAPLIBRE_CSS}}", `/assets/${mlCss}`)
    .replaceAll("{{PREFETCH}}", prefetchScript(`/assets/${worker}`))
    .replaceAll("{{ASSETS}}", JSON.stringify(Object.fromEntries(
      Object.entries(manifest).map(([k, v]) => [k, `/assets/${v}`]))));
  writeFileSync(join(dist, "index.html"), html);
  // Precompress: the API sends foo.gz with Content-Encoding: gzip when the client accepts it.
  for (const dir of [dist, assets]) {
    for (const f of readdirSync(dir)) {
      if (!/\.(js|mjs|css|html|json)$/.test(f)) continue;
      const p = join(dir, f);
      writeFileSync(`${p}.gz`, gzipSync(readFileSync(p), { level: constants.Z_BEST_COMPRESSION }));
    }
  }
  console.log(`viewer built in ${Date.now() - started} ms: ${Object.values(manifest).join(", ")}`);
}

if (watch) {
  await build();
  const { watch: fsWatch } = await import("node:fs");
  let timer = null;
  fsWatch(join(here, "src"), { recursive: true }, () => {
    clearTimeout(timer);
    timer = setTimeout(() => build().catch((e) => console.error(e.message)), 150);
  });
  console.log("watching src/ …");
} else {
  await build();
}
