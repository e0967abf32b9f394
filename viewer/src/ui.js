// The panels around the map: layer list with legends, alerts, feed, details, status banner.
import { categoryColor, categoryRow, CAMERA_COLORS, ROAD_STYLE } from "./data.js";
import { CLOSED_COLOR, COUNT_RAMP, DIFF_RAMP, FILL_RAMP, NO_FLOW_COLOR, SPEED_RAMP } from "./layers.js";
import { formatValue } from "./planner.js";
import { streetName } from "./author.js";
import { fmtTime, getLang, label, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

/** Escape text for HTML. */
export function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
    "'": "&#39;" })[c]);
}

/** The tabs of the right panel, in order. */
export const TABS = ["about", "alerts", "cameras", "feed", "details", "author"];

const signed = (v) => formatValue(v, "", true);
const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;

/** Layer order in the list (keys 1–9 toggle the first nine). */
export const LAYER_ORDER = ["cells", "hotspots", "events", "cameras", "reports", "camera_coverage", "roads",
  "wards_2025", "units_pre2025", "river", "scenario", "compare"];

function swatches(name, S) {
  switch (name) {
    case "cells":
      return COUNT_RAMP.map((c) => `<i style="background:${rgb(c)}"></i>`).join("");
    case "hotspots":
      return `<i class="ring" style="border-color:#ff1744"></i>${esc(t("hot"))} <i class="ring" style="border-color:#2979ff"></i>${esc(t("cold"))}`;
    case "cameras":
      return Object.entries(CAMERA_COLORS).map(([k, c]) => `<i class="dot" style="background:${rgb(c)}"></i>${esc(t(k))}`).join(" ");
    case "events":
      // Every event category of the table (GET /config), then any other the server has sent.
      return S.categories.map((c) => `<span class="cat" data-category="${esc(c)}"><i class="dot" style="background:${rgb(categoryColor(c))}"></i>${categoryRow(c) ? `<b class="icon" aria-hidden="true">${esc(categoryRow(c).icon)}</b>` : ""}${esc(label("c_", c))}</span>`).join(" ");
    case "reports":
      return `<i class="dot" style="background:rgb(186,104,200)"></i>${esc(t("report_swatch"))}`;
    case "roads":
      return `${Object.entries(ROAD_STYLE).map(([k, [c, w]]) => `<i class="bar" style="background:${c};height:${Math.max(2, w)}px"></i>${esc(t(`road_${k}`))}`).join(" ")}<br><span class="small" data-legend="synthetic-names">${esc(t("name_star"))}</span>`;
    case "scenario":
      if (S.scenario.style === "speed") return `${esc(t("lg_speed"))}: 0 ${SPEED_RAMP.map((c) => `<i style="background:${rgb(c)}"></i>`).join("")} ${esc(t("free_flow_short"))} <i class="bar" style="background:${rgb(CLOSED_COLOR)};height:5px"></i>${esc(t("lg_closed"))} <i class="bar" style="background:${rgb(NO_FLOW_COLOR)};height:3px"></i>${esc(t("lg_no_flow"))}`;
      if (S.scenario.style === "fill") return `${esc(t("lg_fill"))}: ${FILL_RAMP.map((c) => `<i style="background:${rgb(c)}"></i>`).join("")}`;
      return "";
    case "compare":
      // Numbers at both ends and the unit: blue is a fall, red a rise (scenario − baseline).
      return S.compare.cells.length ? `${esc(S.compare.metricLabel ?? t("lg_diff"))}<br><span class="small">${esc(t("lg_diff"))}</span><br>${esc(signed(-S.compare.maxAbs))} ${DIFF_RAMP.map((c) => `<i style="background:${rgb(c)}"></i>`).join("")} ${esc(signed(S.compare.maxAbs))} ${esc(S.compare.unit ?? "")}` : "";
    default:
      return "";
  }
}

/** The layers this account's page lists, in order (keys 1–9 toggle the first nine). */
export function layerOrder(S) {
  return LAYER_ORDER.filter((name) => !S.unavailable?.has(name));
}

/** Draw the layer list: a toggle, name, status and legend per layer; clicking a name makes it current. */
export function renderLayerList(S, onToggle, onCurrent) {
  const ul = $("layer-list");
  ul.innerHTML = layerOrder(S).map((name, i) => {
    const st = { ...(S.layerStatus[name] ?? {}) };
    if (st.status === "empty") st.message = t("layer_empty", { name: t(`l_${name}`) }); // in the current language
    const note = st.status && st.status !== "ok" ? `<span class="note ${esc(st.status)}">${esc(st.message ?? "")}</span>` : "";
    const count = st.count !== undefined && st.status === "ok" ? `<span class="count">${st.count.toLocaleString()}</span>` : "";
    const current = S.current === name ? ' aria-current="true"' : "";
    const key = i < 9 ? `<kbd>${i + 1}</kbd>` : "";
    return `<li data-layer="${name}"${current}>
      <label><input type="checkbox" data-toggle="${name}" ${S.visible[name] ? "checked" : ""}
        aria-label="${esc(t(`l_${name}`))}">${key}
      <button type="button" class="link" data-current="${name}" title="GeoJSON">${esc(t(`l_${name}`))}</button>${count}</label>
      ${note}<div class="swatches">${swatches(name, S)}</div></li>`;
  }).join("");
  for (const el of ul.querySelectorAll("[data-toggle]")) el.onchange = () => onToggle(el.dataset.toggle, el.checked);
  for (const el of ul.querySelectorAll("[data-current]")) el.onclick = (e) => {
    e.preventDefault();
    onCurrent(el.dataset.current);
  };
}

/** Show a message in the banner (kind: "error" | "info"); null hides it. */
export function banner(message, kind = "error") {
  const el = $("banner");
  if (!message) {
    el.hidden = true;
    el.textContent = "";
    return;
  }
  el.hidden = false;
  el.className = `banner ${kind}`;
  el.textContent = message;
}

/** Select a tab of the right panel. */
export function selectTab(name) {
  for (const tab of TABS) {
    const el = $(`tab-${tab}`);
    if (!el) continue;
    el.setAttribute("aria-selected", String(tab === name));
    el.tabIndex = tab === name ? 0 : -1;
    $(`pane-${tab}`).hidden = tab !== name;
  }
}

/** Draw the feed: newest events and citizen reports first. */
export function renderFeed(S, onFocus) {
  const items = [...S.feed].slice(0, 150);
  const ul = $("feed-list");
  if (!items.length) {
    ul.innerHTML = `<li class="muted">${esc(t("no_events"))}</li>`;
    return;
  }
  ul.innerHTML = items.map((e, i) => {
    const c = e.kind === "report" ? [186, 104, 200] : categoryColor(e.category);
    const what = e.kind === "report" ? (e.service_name ?? "Open311") : label("c_", e.category);
    return `<li><button type="button" class="feed-item" data-i="${i}">
      <i class="dot" style="background:${rgb(c)}"></i><strong>${esc(what)}</strong>
      <span class="muted">${esc(fmtTime(e.ts))}</span>
      <span class="muted">${esc(S.wardName(e.ward_code) || e.camera_id || "")}</span></button></li>`;
  }).join("");
  for (const b of ul.querySelectorAll("[data-i]")) b.onclick = () => onFocus(items[Number(b.dataset.i)]);
}

function rows(pairs) {
  return `<dl>${pairs.filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join("")}</dl>`;
}

let lastDetails = null;

/** Draw the details pane again (after a language switch), without changing the selected tab. */
export function rerenderDetails() {
  if (!lastDetails) return;
  const shown = !$("pane-details").hidden;
  renderDetails(...lastDetails);
  if (!shown) selectTab(TABS.find((tab) => $(`tab-${tab}`)?.getAttribute("aria-selected") === "true") ?? "feed");
}

/** Show the details of a picked object (camera, event, cell, report, simulation feature). */
export function renderDetails(S, kind, obj, recent = []) {
  lastDetails = [S, kind, obj, recent];
  const el = $("details");
  let html = "";
  if (kind === "camera") {
    const c = obj;
    html = `<h3 id="details-title">${esc(t("camera"))} ${esc(c.camera_id)}</h3><p>${esc(c.name)}</p>${rows([
      [t("ward"), esc(S.wardName(c.ward_code) || c.ward_code)],
      [t("kind"), esc(label("k_", c.kind))],
      [t("status"), `<span class="status ${esc(c.status)}">${esc(t(c.status))}</span>`],
      [t("last_seen"), esc(fmtTime(c.last_seen, true))],
      [t("heading"), c.heading_deg !== undefined ? esc(`${Math.round(c.heading_deg)}° / ${Math.round(c.fov_deg ?? 0)}° / ${Math.round(c.range_m ?? 0)} m`) : ""],
    ])}<h4>${esc(t("recent_events"))}</h4><ul class="list compact" id="camera-events">${recent.length
      ? recent.map((e) => `<li><i class="dot" style="background:${rgb(categoryColor(e.category))}"></i>${esc(label("c_", e.category))} <span class="muted">${esc(fmtTime(e.ts, true))}</span></li>`).join("")
      : `<li class="muted">${esc(t("no_events"))}</li>`}</ul>`;
  } else if (kind === "event") {
    html = `<h3 id="details-title">${esc(label("c_", obj.category))}</h3>${rows([
      [t("time"), esc(fmtTime(obj.ts, true))], [t("ward"), esc(S.wardName(obj.ward_code) || obj.ward_code)],
      [t("camera"), esc(obj.camera_id)], [t("severity"), esc(obj.severity)],
      [t("description"), esc(obj.description ?? obj.text)], ["id", esc(obj.id)],
    ])}`;
  } else if (kind === "report") {
    html = `<h3 id="details-title">${esc(obj.service_name ?? t("report_swatch"))}</h3>${rows([
      [t("requested"), esc(fmtTime(obj.ts, true))], [t("status"), esc(label("rs_", obj.status))],
      [t("description"), esc(obj.description)], [t("ward"), esc(obj.address ?? S.wardName(obj.ward_code))],
      [t("request_id"), esc(obj.id)],
    ])}`;
  } else if (kind === "cell" || kind === "hotspot" || kind === "compare") {
    // The cell's id is for staff (it names the cell in exports and the API); people read its count.
    const staff = S.can?.("events:read") ?? true;
    html = `<h3 id="details-title">${esc(t("cell"))}${staff ? ` <span class="muted mono small">${esc(obj.cell)}</span>` : ""}</h3>${rows([
      [t("count"), esc(obj.count)], [t("gi_z"), obj.gi_z !== undefined && staff ? esc(Number(obj.gi_z).toFixed(2)) : ""],
      ["", obj.hotspot && obj.hotspot !== "none" ? esc(t(obj.hotspot)) : ""],
      [t("lg_diff"), obj.value !== undefined ? esc(Number(obj.value).toFixed(2)) : ""],
    ])}`;
  } else {
    const p = obj.properties ?? obj;
    html = `<h3 id="details-title">${esc(t("l_scenario"))}</h3>${rows(Object.entries(p).slice(0, 16)
      .map(([k, v]) => [k, esc(typeof v === "number" ? Math.round(v * 100) / 100 : v)]))}`;
  }
  el.innerHTML = html;
  selectTab("details");
}

/** Return the tooltip (HTML) of a hovered object. */
export function tooltip(S, info) {
  const { layer, object: o } = info;
  if (!o || !layer) return null;
  let html;
  switch (layer.id) {
    case "cameras":
      html = `<b>${esc(o.camera_id)}</b> ${esc(o.name)}<br>${esc(t(o.status))} · ${esc(label("k_", o.kind))}`;
      break;
    case "events":
      html = `<b>${esc(label("c_", o.category))}</b><br>${esc(fmtTime(o.ts))}`;
      break;
    case "camera-clusters":
      html = o.count === 1 ? `<b>${esc(o.members[0].camera_id)}</b> ${esc(o.members[0].name)}`
        : `<b>${o.count}</b> ${esc(t("cameras_tab"))}: ${o.online} ${esc(t("cam_online"))}, ${o.offline} ${esc(t("cam_offline"))}`;
      break;
    case "incidents": {
      const en = getLang() === "en";
      html = `<b>${esc(en ? o.title_en : o.title_vi)}</b>${o.count > 1 ? ` ×${o.count}` : ""}<br>${esc(en ? o.status_en : o.status_vi)} · ${esc(o.street || S.wardName(o.ward_code))}`;
      break;
    }
    case "reports":
      html = `<b>${esc(o.service_name ?? t("report_swatch"))}</b><br>${esc(label("rs_", o.status))} · ${esc(fmtTime(o.ts))}`;
      break;
    case "cells":
      html = `${esc(t("count"))}: <b>${o.count}</b>`;
      break;
    case "hotspots":
      html = `<b>${esc(t(o.hotspot))}</b>${S.can?.("events:read") ?? true ? ` Gi* z = ${Number(o.gi_z).toFixed(2)}` : ""}`;
      break;
    case "compare":
      html = `${esc(S.compare.metricLabel ?? t("lg_diff"))}<br>${esc(t("lg_diff"))}: <b>${esc(signed(o.value))}</b> ${esc(S.compare.unit ?? "")}`;
      break;
    case "scenario": {
      const p = o.properties ?? {};
      const ts = S.scenario.series;
      if (ts) {
        // Per bin, as drawn: the state and speed of this link at the shown time, not whole-run averages.
        const b = S.scenario.t ?? 0;
        const l = Number(o.id ?? p.link_id);
        const state = ts.closed(b, l) ? "closed" : Number.isFinite(ts.speed(b, l)) ? "flowing" : "no_flow";
        const v = ts.speed(b, l);
        const q = ts.flow(b, l);
        html = `<b>${esc(p.name ? streetName(p) : `#${l}`)}</b> · ${esc(S.scenario.fmt?.(b) ?? "")}<br>${esc(t(`state_${state}`))}`
          + (Number.isFinite(v) ? `<br>${esc(t("speed"))}: <b>${v.toFixed(1)}</b> km/h` : "")
          + (Number.isFinite(q) && state !== "closed" ? `<br>${esc(t("flow"))}: <b>${Math.round(q)}</b> veh/h` : "");
        break;
      }
      html = Object.entries(p).slice(0, 6).map(([k, v]) => `${esc(k)}: <b>${esc(typeof v === "number" ? Math.round(v * 10) / 10 : v)}</b>`).join("<br>");
      break;
    }
    default:
      return null;
  }
  return { html, className: "deck-tooltip", style: { background: "rgba(20,28,36,.95)", color: "#eef", fontSize: "13px", padding: "6px 8px", borderRadius: "4px" } };
}
