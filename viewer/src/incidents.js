// Incidents: the operator's worklist (alerts and citizen reports, grouped, newest first) with filters,
// the detail of one incident (its recorded changes, evidence) and the actions of the workflow. Every
// change sends the revision it was made on (If-Match); a 412 means someone else changed it first: the
// incident is reloaded and the user sees what changed. The same module draws the phone view.
import { ApiError, apiUrl, getJSON, postJSON } from "./api.js";
import { fmtTime, getLang, t } from "./i18n.js";
import { esc } from "./ui.js";

const $ = (id) => document.getElementById(id);

/** Incident state (part of window.__viewer as S.inc). */
export function incidentState() {
  return {
    items: new Map(), labels: null, units: [], role: null, note: "", selected: null, detail: null,
    filter: { status: "open", category: "", ward: "", unit: "", overdue: false }, busy: false, message: "",
  };
}

const OPEN = new Set(["new", "acknowledged", "assigned", "in_progress"]);

function lbl(p, key) {
  return getLang() === "en" ? p[`${key}_en`] : p[`${key}_vi`];
}

function unitName(S, id) {
  const u = S.inc.units.find((x) => x.unit_id === id);
  return u ? (getLang() === "en" ? u.name_en : u.name_vi) : id || "";
}

function norm(f) {
  const p = f.properties ?? f;
  return { ...p, id: p.incident_id, ts: Date.parse(p.last_at), position: p.lon != null ? [p.lon, p.lat] : null };
}

/** Load the vocabulary, the units and the worklist. */
export async function loadIncidents(S, render) {
  const I = S.inc;
  try {
    if (!I.labels) {
      const [labels, units, who] = await Promise.all([
        getJSON("/incidents/labels", undefined, { quiet: true }),
        getJSON("/units", undefined, { quiet: true }),
        getJSON("/auth/whoami", undefined, { quiet: true }).catch(() => ({ role: "public" })),
      ]);
      I.labels = labels;
      I.units = units.units;
      I.role = who.role;
    }
    const doc = await getJSON("/incidents", { limit: 1000 }, { quiet: true });
    I.items = new Map(doc.features.map((f) => [f.id, norm(f)]));
    I.note = "";
  } catch (err) {
    const denied = err instanceof ApiError && (err.status === 401 || err.status === 403);
    I.note = denied ? t("inc_no_access") : err.message;
    // Busy (429 rate limit, 503) or unreachable: try again shortly rather than stay empty.
    if (!denied) setTimeout(() => loadIncidents(S, render), 3000);
  }
  render();
}

/** Apply an incident pushed by the stream. */
export function onStreamIncident(S, data, render) {
  const x = norm(data);
  if (!x.id) return;
  S.inc.items.set(x.id, { ...(S.inc.items.get(x.id) ?? {}), ...x });
  if (S.inc.detail && S.inc.detail.incident_id === x.id && S.inc.detail.revision < x.revision) {
    openIncident(S, x.id, S.inc.onRender, { keepMessage: true });
  }
  render();
}

/** Return the incidents the filters keep, newest occurrence first. */
export function filtered(S) {
  const f = S.inc.filter;
  return [...S.inc.items.values()]
    .filter((x) => (f.status === "open" ? OPEN.has(x.status) : !f.status || x.status === f.status))
    .filter((x) => !f.category || x.category === f.category)
    .filter((x) => !f.ward || x.ward_code === f.ward)
    .filter((x) => !f.unit || x.unit_id === f.unit)
    .filter((x) => !f.overdue || x.overdue)
    .sort((a, b) => b.ts - a.ts || (a.id < b.id ? 1 : -1));
}

function options(pairs, value) {
  return pairs.map(([v, text]) => `<option value="${esc(v)}" ${v === value ? "selected" : ""}>${esc(text)}</option>`).join("");
}

/** Draw the filters and the list into `root` (the IOC's incident tab or the phone view). */
export function renderIncidentList(S, root, { onOpen, compact = false } = {}) {
  const I = S.inc;
  const L = I.labels;
  const lang = getLang();
  const list = filtered(S);
  const open = [...I.items.values()].filter((x) => OPEN.has(x.status)).length;
  const tab = $("tab-alerts");
  if (tab) tab.textContent = `${t("incidents")}${open ? ` (${open})` : ""}`;
  if (!L) {
    root.innerHTML = `<p class="muted">${esc(I.note || t("loading"))}</p>`;
    return;
  }
  const f = I.filter;
  const statuses = [["open", t("inc_open")], ["", t("all")], ...Object.entries(L.statuses).map(([k, v]) => [k, v[lang]])];
  const cats = [["", t("all")], ...Object.entries(L.categories).map(([k, v]) => [k, v[lang]])];
  const wards = [["", t("all")], ...[...S.wards.values()].filter((w) => w.core).map((w) => [String(w.code), S.wardName(w.code)])];
  const units = [["", t("all")], ...I.units.map((u) => [u.unit_id, lang === "en" ? u.name_en : u.name_vi])];
  const focusId = document.activeElement?.id;
  root.innerHTML = `
    <form class="inc-filters" aria-label="${esc(t("inc_filters"))}">
      <label><span>${esc(t("status"))}</span><select id="f-status">${options(statuses, f.status)}</select></label>
      ${compact ? "" : `<label><span>${esc(t("category"))}</span><select id="f-category">${options(cats, f.category)}</select></label>
      <label><span>${esc(t("ward"))}</span><select id="f-ward">${options(wards, f.ward)}</select></label>
      ${I.role === "unit" ? "" : `<label><span>${esc(t("unit"))}</span><select id="f-unit">${options(units, f.unit)}</select></label>`}`}
      <label class="check"><input type="checkbox" id="f-overdue" ${f.overdue ? "checked" : ""}> ${esc(t("overdue"))}</label>
    </form>
    <p class="muted inc-count" role="status">${esc(t("inc_count", { n: list.length }))}</p>
    <ul class="list inc-list" id="incident-list">${list.length ? list.slice(0, 300).map((x) => `
      <li class="incident sev-${esc(x.severity)} st-${esc(x.status)}${x.incident_id === I.selected ? " selected" : ""}">
        <button type="button" class="inc-open" data-open="${esc(x.incident_id)}">
          <span class="inc-title"><strong>${esc(lbl(x, "title"))}</strong>${x.count > 1 ? ` <span class="count-badge" title="${esc(t("inc_grouped"))}">×${x.count}</span>` : ""}</span>
          <span class="inc-tags"><span class="tag status-${esc(x.status)}">${esc(lbl(x, "status"))}</span>
            <span class="tag sev">${esc(lbl(x, "severity"))}</span>${x.overdue ? `<span class="tag overdue">${esc(t("overdue"))}</span>` : ""}</span>
          <span class="muted">${esc([x.ward_code ? S.wardName(x.ward_code) : "", x.street].filter(Boolean).join(" · "))}</span>
          <span class="muted">${esc(lbl(x, "category"))}${x.unit_id ? ` → ${esc(unitName(S, x.unit_id))}` : ""}</span>
          <span class="muted mono">${esc(x.count > 1 ? `${fmtTime(x.first_at, true)} – ${fmtTime(x.last_at)}` : fmtTime(x.last_at, true))}</span>
        </button></li>`).join("") : `<li class="muted">${esc(I.note || t("inc_none"))}</li>`}</ul>`;
  const bind = (id, key, prop = "value") => {
    const el = root.querySelector(`#${id}`);
    if (el) el.onchange = () => {
      I.filter[key] = el[prop];
      renderIncidentList(S, root, { onOpen, compact });
    };
  };
  bind("f-status", "status");
  bind("f-category", "category");
  bind("f-ward", "ward");
  bind("f-unit", "unit");
  bind("f-overdue", "overdue", "checked");
  for (const b of root.querySelectorAll("[data-open]")) b.onclick = () => onOpen(b.dataset.open);
  if (focusId && root.querySelector(`#${focusId}`)) root.querySelector(`#${focusId}`).focus();
}

/** Fetch one incident with its changes and draw it (via S.inc.onRender). */
export async function openIncident(S, id, render, { keepMessage = false } = {}) {
  const I = S.inc;
  I.selected = id;
  if (!keepMessage) I.message = "";
  try {
    I.detail = await getJSON(`/incidents/${encodeURIComponent(id)}`, undefined, { quiet: true });
    I.items.set(id, norm(I.detail));
  } catch (err) {
    I.message = err.message;
  }
  render();
}

function allowedNext(S, d) {
  const L = S.inc.labels;
  let next = L.transitions[d.status] ?? [];
  if (S.inc.role === "unit") next = next.filter((s) => L.unit_may_set.includes(s));
  return next.filter((s) => s !== "assigned");
}

/** Draw the open incident: what, where, who has it, its history, its evidence and the actions. */
export function renderIncidentDetail(S, root, { onFly, onBack } = {}) {
  const I = S.inc;
  const d = I.detail;
  if (!d) {
    root.innerHTML = I.message ? `<p role="alert" class="error">${esc(I.message)}</p>` : "";
    return;
  }
  const L = I.labels;
  const lang = getLang();
  const canAssign = I.role !== "unit";
  // A redraw of the same incident (the stream brought a newer revision) keeps what is being typed.
  const typed = root.dataset.incident === d.incident_id ? root.querySelector("#inc-note")?.value : "";
  const hadFocus = root.contains(document.activeElement) ? document.activeElement.id : null;
  root.dataset.incident = d.incident_id;
  const next = allowedNext(S, d);
  const change = (c) => {
    const st = c.to_status && c.to_status !== c.from_status ? L.statuses[c.to_status]?.[lang] : "";
    const what = c.action === "assign" ? `${t("inc_assigned_to")} ${unitName(S, c.unit_id)}` : t(`act_${c.action}`);
    return `<li><span class="mono muted">${esc(fmtTime(c.at, true))}</span> <strong>${esc(what)}</strong>${st ? ` → ${esc(st)}` : ""}
      <span class="muted">· ${esc(c.actor)}</span>${c.note ? `<div class="note">${esc(c.note)}</div>` : ""}
      ${c.snapshot_id ? `<div class="muted">📷 ${esc(c.snapshot_id)}</div>` : ""}</li>`;
  };
  root.innerHTML = `
    <article class="incident-detail" aria-labelledby="inc-h">
      ${onBack ? `<button type="button" id="inc-back" class="link">← ${esc(t("inc_back"))}</button>` : ""}
      <h3 id="inc-h">${esc(lbl(d, "title"))}</h3>
      <dl>
        <dt>${esc(t("status"))}</dt><dd><span class="tag status-${esc(d.status)}">${esc(lbl(d, "status"))}</span>${d.overdue ? ` <span class="tag overdue">${esc(t("overdue"))}</span>` : ""}</dd>
        <dt>${esc(t("category"))}</dt><dd>${esc(lbl(d, "category"))}</dd>
        <dt>${esc(t("severity"))}</dt><dd>${esc(lbl(d, "severity"))}</dd>
        <dt>${esc(t("ward"))}</dt><dd>${esc(d.ward_code ? S.wardName(d.ward_code) : "—")}</dd>
        <dt>${esc(t("street"))}</dt><dd>${esc(d.street || "—")}</dd>
        <dt>${esc(t("unit"))}</dt><dd>${esc(d.unit_id ? unitName(S, d.unit_id) : "—")}</dd>
        <dt>${esc(t("inc_occurrences"))}</dt><dd>${d.count} · ${esc(fmtTime(d.first_at, true))} – ${esc(fmtTime(d.last_at, true))}</dd>
        <dt>${esc(t("inc_due"))}</dt><dd>${esc(d.due_at ? fmtTime(d.due_at, true) : "—")}</dd>
        ${d.details?.description ? `<dt>${esc(t("description"))}</dt><dd>${esc(d.details.description)}</dd>` : ""}
      </dl>
      ${d.position || d.lon != null ? `<button type="button" id="inc-fly">${esc(t("inc_show_map"))}</button>` : ""}
      ${d.snapshots?.length ? `<div class="snapshots">${d.snapshots.map((s) => `<a href="${esc(apiUrl(`/snapshots/${s}`))}" target="_blank" rel="noopener"><img alt="${esc(t("inc_snapshot"))} ${esc(s)}" src="${esc(apiUrl(`/snapshots/${s}`))}" loading="lazy"></a>`).join("")}</div>` : ""}
      <form id="inc-form" class="inc-form">
        <label><span>${esc(t("inc_note"))}</span>
          <textarea id="inc-note" maxlength="${L.note_max}" rows="3"></textarea></label>
        <div class="file-field"><span class="muted">${esc(t("inc_photo"))}</span>
          <label class="file-btn"><input id="inc-photo" class="file-input" type="file" accept="image/jpeg"
            capture="environment"><span>${esc(t("inc_photo_pick"))}</span></label>
          <span id="inc-photo-name" class="muted" aria-live="polite">${esc(t("inc_photo_none"))}</span></div>
        <div class="inc-actions">
          ${next.map((s) => `<button type="button" data-status="${esc(s)}">${esc(L.statuses[s][lang])}</button>`).join("")}
          ${d.status !== "closed" ? `<button type="button" id="inc-add-note">${esc(t("inc_add_note"))}</button>` : ""}
        </div>
        ${canAssign && d.status !== "closed" && d.status !== "resolved" ? `<div class="inc-assign">
          <label><span>${esc(t("inc_assign_to"))}</span><select id="inc-unit">${options(I.units.map((u) => [u.unit_id, lang === "en" ? u.name_en : u.name_vi]), d.unit_id ?? "")}</select></label>
          <button type="button" id="inc-assign">${esc(t("inc_assign"))}</button></div>` : ""}
        <p id="inc-msg" role="status" aria-live="polite" class="${I.message ? "error" : "muted"}">${esc(I.message || t("inc_revision", { r: d.revision }))}</p>
      </form>
      <h4>${esc(t("inc_history"))}</h4>
      <ol class="history">${d.changes.map(change).join("")}</ol>
    </article>`;
  const q = (sel) => root.querySelector(sel);
  if (typed || I.draft) q("#inc-note").value = typed || I.draft;
  if (hadFocus && q(`#${hadFocus}`)) q(`#${hadFocus}`).focus();
  if (q("#inc-back")) q("#inc-back").onclick = onBack;
  // The browser's own file button speaks the browser's language: ours says what the page says.
  q("#inc-photo").onchange = (e) => {
    q("#inc-photo-name").textContent = e.target.files?.[0]?.name ?? t("inc_photo_none");
  };
  if (q("#inc-fly")) q("#inc-fly").onclick = () => onFly?.(d);
  for (const b of root.querySelectorAll("[data-status]")) b.onclick = () => act(S, "status", { status: b.dataset.status });
  if (q("#inc-add-note")) q("#inc-add-note").onclick = () => act(S, "notes", {});
  if (q("#inc-assign")) q("#inc-assign").onclick = () => act(S, "assign", { unit_id: q("#inc-unit").value });
}

/** Send one change (with the note and photo of the form) at the revision shown; reload on 412. */
export async function act(S, kind, body) {
  const I = S.inc;
  const d = I.detail;
  if (!d || I.busy) return;
  const note = $("inc-note")?.value.trim() || null;
  I.draft = $("inc-note")?.value ?? "";
  const file = $("inc-photo")?.files?.[0] ?? null;
  const url = `/incidents/${encodeURIComponent(d.incident_id)}`;
  I.busy = true;
  I.message = t("inc_sending");
  setMsg(I.message, false);
  try {
    let snapshot_id = null;
    if (file) {
      if (file.size > I.labels.snapshot_max_bytes) throw new Error(t("inc_photo_big", { kb: Math.round(file.size / 1000) }));
      const blob = new Blob([await file.arrayBuffer()], { type: "image/jpeg" });
      snapshot_id = (await postJSON(`${url}/snapshots`, blob)).snapshot_id;
    }
    if (kind === "notes" && !note && !snapshot_id) throw new Error(t("inc_need_note"));
    const payload = { ...body };
    if (note) payload.note = note;
    if (snapshot_id && kind !== "assign") payload.snapshot_id = snapshot_id;
    if (kind === "notes" && !payload.note) payload.note = "📷";
    I.detail = await postJSON(`${url}/${kind}`, payload, { "If-Match": `"${d.revision}"` });
    I.items.set(d.incident_id, norm(I.detail));
    I.message = "";
    I.draft = "";
    if ($("inc-note")) $("inc-note").value = ""; // sent: the next redraw starts with an empty note
    if ($("inc-photo")) $("inc-photo").value = "";
  } catch (err) {
    if (err instanceof ApiError && err.status === 412) {
      I.message = t("inc_stale");
      I.busy = false;
      await openIncident(S, d.incident_id, I.onRender, { keepMessage: true });
      return;
    }
    I.message = err.message;
  } finally {
    I.busy = false;
  }
  I.onRender();
}

function setMsg(text, error) {
  const el = $("inc-msg");
  if (el) {
    el.textContent = text;
    el.className = error ? "error" : "muted";
  }
}
