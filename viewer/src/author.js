// The planner's workbench, authoring side: build a scenario on the map (click a road or a bridge to close
// it for a time window; demand, mode split, clock, seeds), check it with the server as you type
// (POST /scenarios/validate: the CLI's own check and messages), download / upload the scenario file
// (the JSON the CLI reads; a TOML upload is read by the server), run it with its baseline and open the
// result. The document the page builds is the one it downloads and submits: one file, three uses.
import { PathLayer } from "@deck.gl/layers";
import { ApiError, getJSON, postJSON } from "./api.js";
import { t } from "./i18n.js";
import { esc } from "./ui.js";

const $ = (id) => document.getElementById(id);

/** Colour of a link chosen for closure (before the run): the closed colour of the result, dashed look. */
const PICKED_COLOR = [233, 30, 200, 200];
/** A click within this many pixels of a road picks it. */
const PICK_PX = 14;
/** The default motorbike share of the traffic model (simulations/traffic/params.py), in %. */
const DEFAULT_MOTORBIKE_PCT = 85;

/** The authoring state (S.author). */
export function authorState() {
  return {
    picking: false, roads: null, closures: [], name: "", seeds: 3, start: "07:00", minutes: 40,
    demand: 1, motorbikePct: DEFAULT_MOTORBIKE_PCT, extra: null, check: null, selected: [], job: null,
  };
}

const pad = (n) => String(n).padStart(2, "0");

/** "07:00" + 25 minutes → "07:25". */
export function addMinutes(hhmm, minutes) {
  const [h, m] = String(hhmm).split(":").map(Number);
  const tot = (h * 60 + m + minutes + 24 * 60) % (24 * 60);
  return `${pad(Math.floor(tot / 60))}:${pad(tot % 60)}`;
}

/** The scenario document of the form (schema version 1, as simulations/scenario.py reads it). */
export function documentOf(A) {
  if (A.extra) return A.extra; // an uploaded file is kept as it was written (round trip identical)
  const changes = A.closures.map((c) => {
    const ch = { type: "close", name: c.name };
    if (c.road) ch.road = c.road;
    if (c.bridges_only) ch.bridges_only = true;
    if (c.links?.length) ch.links = c.links;
    if (c.start) ch.start = c.start;
    if (c.end) ch.end = c.end;
    return ch;
  });
  if (Number(A.demand) !== 1) changes.push({ type: "scale", param: "traffic.demand.multiplier", factor: Number(A.demand) });
  if (Number(A.motorbikePct) !== DEFAULT_MOTORBIKE_PCT) {
    changes.push({ type: "set", param: "traffic.vehicles.motorbike.share", value: Number(A.motorbikePct) / 100 });
  }
  const n = Math.max(1, Math.round(Number(A.seeds) || 1));
  return {
    schema_version: 1,
    name: A.name || defaultName(A),
    kind: "traffic",
    seeds: Array.from({ length: n }, (_, i) => i + 1),
    horizon: `${Number(A.minutes)}min`,
    traffic: { start: A.start },
    changes,
  };
}

function defaultName(A) {
  if (!A.closures.length) return t("au_default_name");
  const c = A.closures[0];
  return `${t("au_close_verb")} ${c.label} ${c.start ?? ""}–${c.end ?? ""}`.trim();
}

// ------------------------------------------------------------------ picking a road on the map

/** Distance (px) from point p to segment ab. */
function segDist(p, a, b) {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const len = dx * dx + dy * dy;
  const u = len ? Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / len)) : 0;
  return Math.hypot(p.x - a.x - u * dx, p.y - a.y - u * dy);
}

/** Return the links nearest to screen point `pt` (both directions of a street), [] if none within PICK_PX. */
export function linksAt(map, roads, pt) {
  let best = Infinity;
  const near = [];
  for (const f of roads.features) {
    const cs = f.geometry?.coordinates;
    if (!cs) continue;
    let d = Infinity;
    let prev = map.project(cs[0]);
    for (let i = 1; i < cs.length; i++) {
      const cur = map.project(cs[i]);
      d = Math.min(d, segDist(pt, prev, cur));
      prev = cur;
    }
    if (d <= PICK_PX) near.push([d, f]);
    best = Math.min(best, d);
  }
  return near.filter(([d]) => d <= best + 1).map(([, f]) => f);
}

/** What a road name is (gis_data/roads_synthetic.py `name_source`): "" for a real name, else a note. */
export function nameNote(source) {
  return source === "synthetic" ? t("name_synthetic") : source === "descriptive" ? t("name_descriptive") : "";
}

/** A road's name with its note when the name is synthetic or descriptive ("Lê Lợi (synthetic name)"). */
export function streetName(p) {
  const note = nameNote(p?.name_source);
  return note ? `${p.name} (${note})` : String(p?.name ?? "");
}

/** The name people read for a road link: its name (noted when synthetic), else "unnamed link #id". */
export function roadLabel(p, id) {
  if (p?.name) return p.ref && p.ref === p.name && p.bridge ? `${t("au_bridge_of", { ref: p.ref })}` : streetName(p);
  return t("au_unnamed", { id });
}

/** The closure a click on these links makes: a named bridge by its name, other roads by their links. */
export function closureFor(feats) {
  const f = feats[0];
  const p = f.properties ?? {};
  const ids = feats.map((g) => Number(g.id ?? g.properties?.link_id)).sort((a, b) => a - b);
  const label = roadLabel(p, ids[0]);
  if (p.bridge && p.name && p.name !== p.ref) return { road: p.name, label, bridge: true, ids };
  if (p.bridge && p.ref) return { road: p.ref, bridges_only: true, label, bridge: true, ids };
  return { links: ids, label, bridge: Boolean(p.bridge), ids };
}

// ------------------------------------------------------------------ the panel

/**
 * Wire the authoring pane. `ctx`: {S, map, render, openResult(scenarioId, baselineId)}.
 * The map's clicks pick roads while "pick" is on; every edit re-checks the document with the server.
 */
export function initAuthor(ctx) {
  const { S, map } = ctx;
  S.author = authorState();
  const A = S.author;
  renderAuthor(S);
  const pane = $("pane-author");
  pane.addEventListener("input", (e) => onInput(ctx, e));
  pane.addEventListener("change", (e) => onInput(ctx, e));
  pane.addEventListener("click", (e) => onButton(ctx, e));
  map.on("click", (e) => {
    if (!A.picking || !A.roads) return;
    const feats = linksAt(map, A.roads, e.point);
    if (!feats.length) {
      setStatus(t("au_nothing_here"), "warn");
      return;
    }
    const c = closureFor(feats);
    A.extra = null;
    A.closures.push({ ...c, name: `${t("au_close_verb")} ${c.label}`, start: addMinutes(A.start, 10),
      end: addMinutes(A.start, 30) });
    A.picking = false;
    map.getCanvas().style.cursor = "";
    renderAuthor(S);
    scheduleCheck(ctx);
  });
}

/** Load the full road layer (link ids of both directions) the first time the pane is used. */
export async function ensureRoads(S) {
  if (S.author.roads) return S.author.roads;
  S.author.roads = await getJSON("/layers/roads", undefined, { timeout: 60000 });
  return S.author.roads;
}

function setStatus(text, kind = "") {
  const el = $("au-status");
  if (!el) return;
  el.textContent = text;
  el.className = `au-status ${kind}`;
}

function onInput(ctx, e) {
  const A = ctx.S.author;
  const el = e.target;
  const k = el.dataset.field;
  if (!k) return;
  if (el.type === "file") return;
  A.extra = null;
  if (k.startsWith("closure.")) {
    const [, i, what] = k.split(".");
    A.closures[Number(i)][what] = el.value;
  } else {
    A[k] = el.value;
  }
  // The form is not rebuilt under the cursor: each input keeps what the planner typed.
  scheduleCheck(ctx);
}

async function onButton(ctx, e) {
  const { S, map } = ctx;
  const A = S.author;
  const act = e.target.closest("[data-act]")?.dataset.act;
  if (!act) return;
  if (act === "pick") {
    A.picking = !A.picking;
    map.getCanvas().style.cursor = A.picking ? "crosshair" : "";
    if (A.picking) {
      setStatus(t("loading"));
      try {
        await ensureRoads(S);
        setStatus(t("au_pick_hint"));
      } catch (err) {
        setStatus(err.message, "error");
        A.picking = false;
      }
    }
    renderAuthor(S, true);
  } else if (act === "remove") {
    A.extra = null;
    A.closures.splice(Number(e.target.dataset.i), 1);
    renderAuthor(S);
    scheduleCheck(ctx);
  } else if (act === "download") {
    download(documentOf(A));
  } else if (act === "upload") {
    $("au-file").click();
  } else if (act === "run") {
    run(ctx);
  }
}

/** Save the document as a .json file the CLI reads (`twin scenario run FILE`). */
function download(doc) {
  const text = `${JSON.stringify(doc, null, 2)}\n`;
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  const slug = (doc.name || "scenario").normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/đ/g, "d")
    .replace(/Đ/g, "D").replace(/[^A-Za-z0-9]+/g, "_").replace(/^_|_$/g, "").slice(0, 60) || "scenario";
  a.download = `${slug}.json`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

/** Read an uploaded .json / .toml file: the server reads it as the CLI would and returns the document. */
async function upload(ctx, file) {
  const A = ctx.S.author;
  const text = await file.text();
  const toml = /\.toml$/i.test(file.name);
  try {
    const body = await getJSON("/scenarios/validate", undefined, { method: "POST", timeout: 60000,
      body: new Blob([text], { type: toml ? "application/toml" : "application/json" }) });
    A.extra = body.document;
    fillFrom(A, body.document);
    showCheck(ctx.S, body);
  } catch (err) {
    A.extra = null;
    showCheck(ctx.S, null, err);
  }
  renderAuthor(ctx.S, true);
}

/** Show an uploaded document in the form (the closures, clock, demand, split it sets). */
function fillFrom(A, doc) {
  A.name = doc.name ?? "";
  A.seeds = Array.isArray(doc.seeds) ? doc.seeds.length : Number(doc.seeds) || 1;
  A.start = doc.traffic?.start ?? A.start;
  const h = String(doc.horizon ?? "");
  const m = /^(\d+(?:\.\d+)?)\s*(min|m|h|s)?$/.exec(h);
  if (m) A.minutes = Number(m[1]) * ({ h: 60, s: 1 / 60 }[m[2]] ?? 1);
  A.closures = (doc.changes ?? []).filter((c) => c.type === "close").map((c) => ({ ...c,
    label: c.road ?? (c.links ? t("au_links_n", { n: c.links.length }) : t("au_area")) }));
  const dem = (doc.changes ?? []).find((c) => c.param === "traffic.demand.multiplier");
  A.demand = dem ? (dem.factor ?? dem.value) : 1;
  const mb = (doc.changes ?? []).find((c) => c.param === "traffic.vehicles.motorbike.share");
  A.motorbikePct = mb ? Math.round((mb.value ?? mb.factor * 0.85) * 100) : DEFAULT_MOTORBIKE_PCT;
}

let checkTimer = null;
let checkSeq = 0;
function scheduleCheck(ctx) {
  ctx.S.author.checking = true; // from the edit until its answer (tests and the run button wait for it)
  clearTimeout(checkTimer);
  checkTimer = setTimeout(() => check(ctx), 250);
}

/** Check the document with the server; the answer is the CLI's (`twin scenario validate`). */
export async function check(ctx) {
  const S = ctx.S;
  const seq = ++checkSeq;
  S.author.checking = true;
  try {
    const body = await postJSON("/scenarios/validate", documentOf(S.author));
    if (seq === checkSeq) showCheck(S, body);
  } catch (err) {
    if (seq === checkSeq) showCheck(S, null, err);
  } finally {
    if (seq === checkSeq) S.author.checking = false;
  }
  ctx.render();
}

/** What the server's check says, in the page's language (its errors are shown as the CLI prints them). */
function validText(body) {
  const d = body.document ?? {};
  const seeds = Array.isArray(d.seeds) ? d.seeds.length : d.seeds;
  const closed = body.closures.map((c) => t("au_closes", { what: c.label, n: c.links.length })).join("; ");
  const notes = body.notes?.length ? ` · ${body.notes.join("; ")}` : "";
  return `${t("au_valid")}: “${d.name ?? ""}” · ${t("au_runs_n", { n: seeds ?? 1 })} · `
    + `${t("au_changes_n", { n: (d.changes ?? []).length })}${closed ? ` · ${closed}` : ""}${notes}`;
}

function showCheck(S, body, err) {
  const A = S.author;
  A.check = body ? { ok: true, body } : { ok: false, message: err?.message ?? String(err), status: err?.status };
  A.selected = body ? body.closures.flatMap((c) => c.links) : [];
  setStatus(body ? validText(body) : err.message, body ? "ok" : "error");
  const btn = $("au-run");
  if (btn) btn.disabled = !body || Boolean(A.job && !A.job.done);
}

// ------------------------------------------------------------------ running from the map

/** Submit the document with its baseline, follow both jobs' progress, open the result when done. */
async function run(ctx) {
  const { S } = ctx;
  const A = S.author;
  const doc = documentOf(A);
  let sub;
  try {
    sub = await getJSON("/scenarios", { with_baseline: "true" }, { method: "POST", body: doc, timeout: 30000 });
  } catch (err) {
    showCheck(S, null, err);
    return;
  }
  A.job = { id: sub.id, baseline: sub.baseline_id, progress: 0, message: t("au_queued"), done: false };
  renderProgress(S);
  const ids = [sub.baseline_id, sub.id];
  for (;;) {
    await new Promise((r) => setTimeout(r, 400));
    let jobs;
    try {
      jobs = await Promise.all(ids.map((id) => getJSON(`/scenarios/${encodeURIComponent(id)}`)));
    } catch (err) {
      A.job.message = err.message;
      renderProgress(S);
      if (err instanceof ApiError && err.status === 0) continue; // the server is away: keep waiting
      return;
    }
    const bad = jobs.find((j) => ["failed", "cancelled"].includes(j.status));
    if (bad) {
      A.job = { ...A.job, done: true, failed: true, message: `${t("au_failed")}: ${(bad.error ?? bad.status).split("\n")[0]}` };
      renderProgress(S);
      return;
    }
    A.job.progress = jobs.reduce((s, j) => s + Number(j.progress ?? (j.status === "done" ? 100 : 0)), 0) / jobs.length;
    A.job.message = jobs.map((j) => `${j.id === sub.id ? t("scenario") : t("baseline")}: ${statusText(j)}`).join(" · ");
    renderProgress(S);
    if (jobs.every((j) => j.status === "done")) break;
  }
  A.job.done = true;
  A.job.message = t("au_done");
  renderProgress(S);
  await ctx.openResult(sub.id, sub.baseline_id);
}

function statusText(j) {
  if (j.status === "running") return `${Math.round(Number(j.progress ?? 0))} %${j.message ? ` (${j.message})` : ""}`;
  return t(`au_st_${j.status}`);
}

function renderProgress(S) {
  const j = S.author.job;
  const box = $("au-progress");
  if (!box || !j) return;
  box.hidden = false;
  box.querySelector("progress").value = Math.min(100, j.progress);
  box.querySelector("output").textContent = `${Math.round(j.progress)} % · ${j.message}`;
  box.dataset.state = j.failed ? "failed" : j.done ? "done" : "running";
  const btn = $("au-run");
  if (btn) btn.disabled = !j.done || !S.author.check?.ok;
}

/**
 * Draw the pane. With `keepFocus` the form is not rebuilt under the cursor (only the list and buttons).
 */
export function renderAuthor(S, keepFocus = false) {
  const A = S.author;
  const pane = $("pane-author");
  if (!pane || !A) return;
  const list = A.closures.map((c, i) => `<li class="au-closure" data-i="${i}">
      <b>${esc(c.label)}</b>${c.bridge ? ` <span class="muted small">${esc(t("au_bridge"))}</span>` : ""}
      <label>${esc(t("au_from"))} <input type="time" data-field="closure.${i}.start" value="${esc(c.start ?? "")}"></label>
      <label>${esc(t("au_to"))} <input type="time" data-field="closure.${i}.end" value="${esc(c.end ?? "")}"></label>
      <button type="button" data-act="remove" data-i="${i}" aria-label="${esc(t("au_remove"))}">×</button></li>`).join("");
  if (keepFocus && pane.querySelector("#au-closures")) {
    pane.querySelector("#au-closures").innerHTML = list || `<li class="muted">${esc(t("au_no_closure"))}</li>`;
    $("au-pick").setAttribute("aria-pressed", String(A.picking));
    $("au-pick").textContent = A.picking ? t("au_picking") : t("au_pick");
    return;
  }
  const field = (k, type, extra = "") => `<input id="au-${k}" data-field="${k}" type="${type}" value="${esc(A[k])}" ${extra}>`;
  pane.innerHTML = `<h3>${esc(t("au_title"))}</h3>
    <p class="muted small">${esc(t("au_intro"))}</p>
    <label class="au-row">${esc(t("au_name"))} ${field("name", "text", `placeholder="${esc(defaultName(A))}" maxlength="200"`)}</label>
    <button id="au-pick" type="button" data-act="pick" aria-pressed="${A.picking}">${esc(A.picking ? t("au_picking") : t("au_pick"))}</button>
    <ul id="au-closures" class="au-closures">${list || `<li class="muted">${esc(t("au_no_closure"))}</li>`}</ul>
    <div class="au-grid">
      <label>${esc(t("au_start"))} ${field("start", "time")}</label>
      <label>${esc(t("au_minutes"))} ${field("minutes", "number", 'min="5" max="1440" step="5"')}</label>
      <label>${esc(t("au_demand"))} ${field("demand", "number", 'min="0.05" max="5" step="0.05"')}</label>
      <label>${esc(t("au_motorbike"))} ${field("motorbikePct", "number", 'min="0" max="100" step="1"')}</label>
      <label>${esc(t("au_seeds"))} ${field("seeds", "number", 'min="1" max="20" step="1"')}</label>
    </div>
    <p id="au-status" class="au-status" role="status" aria-live="polite"></p>
    <div class="au-actions">
      <button id="au-download" type="button" data-act="download">${esc(t("au_download"))}</button>
      <button id="au-upload" type="button" data-act="upload">${esc(t("au_upload"))}</button>
      <input id="au-file" type="file" accept=".json,.toml,application/json,application/toml" hidden>
      <button id="au-run" type="button" data-act="run" class="primary" disabled>${esc(t("au_run"))}</button>
    </div>
    <div id="au-progress" class="au-progress" hidden><progress max="100" value="0"></progress>
      <output class="small"></output></div>`;
  $("au-file").onchange = (e) => {
    const f = e.target.files?.[0];
    if (f) upload({ S, render: () => {} }, f);
    e.target.value = "";
  };
  if (A.check) showCheck(S, A.check.ok ? A.check.body : null, A.check.ok ? null : { message: A.check.message });
  renderProgress(S);
}

/** The deck.gl layer of the links chosen for closure (as the server resolved them), over the base map. */
export function authorLayers(S) {
  const A = S.author;
  if (!A?.roads || !A.selected.length || S.scenario?.run) return [];
  const ids = new Set(A.selected);
  const data = A.roads.features.filter((f) => ids.has(Number(f.id ?? f.properties?.link_id)));
  return [new PathLayer({
    id: "author-closures", data, getPath: (f) => f.geometry.coordinates, getColor: PICKED_COLOR,
    getWidth: 7, widthUnits: "pixels", capRounded: true, parameters: { depthCompare: "always" },
  })];
}

/** Strings of the authoring pane and the planner's reading, Vietnamese and English. */
export const AUTHOR_STRINGS = {
  vi: {
    au_tab: "Soạn kịch bản",
    au_title: "Soạn kịch bản trên bản đồ",
    au_intro: "Bấm “Chọn đường”, rồi bấm vào một đường hoặc cây cầu để đóng nó trong một khung giờ. Kịch bản được kiểm tra như `twin scenario validate`.",
    au_name: "Tên kịch bản",
    au_default_name: "Kịch bản mới",
    au_close_verb: "Đóng",
    au_pick: "Chọn đường trên bản đồ",
    au_picking: "Bấm vào đường hoặc cầu… (bấm lại để thôi)",
    au_pick_hint: "Bấm vào một đường hoặc cây cầu trên bản đồ.",
    au_nothing_here: "Không có đường nào ở chỗ vừa bấm: phóng to và bấm sát vào đường.",
    au_bridge: "cầu",
    name_synthetic: "tên giả định",
    name_descriptive: "tên mô tả, không có tên thật",
    au_bridge_of: "Cầu trên {ref}",
    au_unnamed: "Đoạn đường #{id} (chưa có tên; mạng đường giả định)",
    au_links_n: "{n} đoạn đường",
    au_area: "một khu vực",
    au_from: "từ",
    au_to: "đến",
    au_remove: "Bỏ đóng đường này",
    au_no_closure: "Chưa đóng đường nào.",
    au_start: "Giờ bắt đầu mô phỏng",
    au_minutes: "Thời lượng (phút)",
    au_demand: "Hệ số nhu cầu đi lại",
    au_motorbike: "Tỷ lệ xe máy (%)",
    au_seeds: "Số lần chạy (seed)",
    au_valid: "Hợp lệ",
    au_runs_n: "{n} lần chạy",
    au_changes_n: "{n} thay đổi",
    au_closes: "{what}: đóng {n} đoạn đường",
    au_download: "Tải tệp kịch bản",
    au_upload: "Mở tệp kịch bản…",
    au_run: "Chạy cùng hiện trạng",
    au_queued: "đang chờ",
    au_done: "Xong: kết quả đã mở trên bản đồ",
    au_failed: "Lỗi",
    au_st_queued: "đang chờ",
    au_st_running: "đang chạy",
    au_st_done: "xong",
    au_st_failed: "lỗi",
    au_st_cancelled: "đã hủy",
    baseline: "Hiện trạng",
    swipe: "Vuốt so sánh: hiện trạng | kịch bản",
    swipe_left: "◀ Hiện trạng",
    swipe_right: "Kịch bản ▶",
    lt_traffic_links: "Giao thông: tốc độ các đoạn đường",
    lt_waste_routes: "Thu gom rác: tuyến xe",
    lt_waste_points: "Thu gom rác: điểm thu gom",
    lt_waste_bins: "Thu gom rác: mức đầy thùng",
    lt_waste_cells: "Thu gom rác: theo ô H3",
    lt_traffic_cells: "Giao thông: theo ô H3",
  },
  en: {
    au_tab: "Author",
    au_title: "Author a scenario on the map",
    au_intro: "Press “Pick a road”, then click a road or a bridge to close it for a time window. The scenario is checked as `twin scenario validate` checks it.",
    au_name: "Scenario name",
    au_default_name: "New scenario",
    au_close_verb: "Close",
    au_pick: "Pick a road on the map",
    au_picking: "Click a road or bridge… (press again to stop)",
    au_pick_hint: "Click a road or a bridge on the map.",
    au_nothing_here: "No road where you clicked: zoom in and click on the road.",
    au_bridge: "bridge",
    name_synthetic: "synthetic name",
    name_descriptive: "descriptive name, no real name known",
    au_bridge_of: "Bridge of {ref}",
    au_unnamed: "Link #{id} (no name; synthetic network)",
    au_links_n: "{n} links",
    au_area: "an area",
    au_from: "from",
    au_to: "to",
    au_remove: "Remove this closure",
    au_no_closure: "No road closed yet.",
    au_start: "Simulation starts at",
    au_minutes: "Duration (minutes)",
    au_demand: "Travel demand factor",
    au_motorbike: "Motorbike share (%)",
    au_seeds: "Runs (seeds)",
    au_valid: "Valid",
    au_runs_n: "{n} runs",
    au_changes_n: "{n} change(s)",
    au_closes: "{what}: {n} links closed",
    au_download: "Download scenario file",
    au_upload: "Open scenario file…",
    au_run: "Run with baseline",
    au_queued: "queued",
    au_done: "Done: the result is open on the map",
    au_failed: "Failed",
    au_st_queued: "queued",
    au_st_running: "running",
    au_st_done: "done",
    au_st_failed: "failed",
    au_st_cancelled: "cancelled",
    baseline: "Baseline",
    swipe: "Swipe: baseline | scenario",
    swipe_left: "◀ Baseline",
    swipe_right: "Scenario ▶",
    lt_traffic_links: "Traffic: link speeds",
    lt_waste_routes: "Waste collection: truck routes",
    lt_waste_points: "Waste collection: collection points",
    lt_waste_bins: "Waste collection: bin fill",
    lt_waste_cells: "Waste collection: per H3 cell",
    lt_traffic_cells: "Traffic: per H3 cell",
  },
};

/** The human name of a result layer ("traffic.links" → "Traffic: link speeds"), never the raw id. */
export function layerTitle(name) {
  const key = `lt_${String(name).replace(/\./g, "_")}`;
  const s = t(key);
  if (s !== key) return s;
  const [kind, rest = ""] = String(name).split(".");
  const k = t(`lt_${kind}_cells`) !== `lt_${kind}_cells` ? t(`lt_${kind}_cells`).split(":")[0] : kind;
  return `${k}: ${rest.replace(/_/g, " ")}`;
}

