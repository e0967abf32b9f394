// The planner's reading of a run: the KPI delta table beside the map (scenario − baseline) and run labels.
import { GeoJsonLayer } from "@deck.gl/layers";
import { fmtTime, getLang, t } from "./i18n.js";
import { CLOSED_COLOR } from "./layers.js";
import { esc } from "./ui.js";

/**
 * Format a figure as the CLI does (simulations/results.py `format_value`): fixed notation, never
 * 1e+05; four significant digits below 1,000, whole numbers with thousands separators above;
 * fractions with unit "%" as percentages; "–" for none.
 */
export function formatValue(v, unit = "", signed = false) {
  if (v === null || v === undefined || !Number.isFinite(Number(v))) return "–";
  let f = Number(v);
  if (unit === "%") f *= 100;
  if (f === 0) return "0";
  const mag = Math.abs(f);
  const decimals = mag >= 1000 ? 0 : Math.min(6, Math.max(0, 3 - Math.floor(Math.log10(mag))));
  let text = f.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
  if (decimals && text.includes(".")) text = text.replace(/0+$/, "").replace(/\.$/, "");
  return signed && f > 0 ? `+${text}` : text;
}

/** A run as people name it: its title, date and seeds (and its id, to copy into the CLI). */
export function runLabel(r) {
  const name = r.name ?? r.scenario ?? r.title ?? "";
  const when = r.finished_at ?? r.created_at ?? r.started_at;
  const seeds = Array.isArray(r.seeds) && r.seeds.length ? t("seeds_n", { n: r.seeds.length }) : "";
  return [name, when ? fmtTime(when, true) : "", seeds, r.id].filter(Boolean).join(" · ");
}

/**
 * Draw the KPI deltas of a comparison (GET /scenarios/{baseline}/compare/{scenario}) into `el`:
 * planning KPIs with unit, baseline, scenario, difference and its 95 % interval, the Holm-adjusted
 * p-value; the correction named under the table. Each row carries its raw numbers (data-*).
 */
export function renderKpiTable(el, doc) {
  if (!el) return;
  const rows = (doc?.kpis ?? []).filter((k) => k.group === "planning");
  if (!rows.length) {
    el.innerHTML = "";
    el.hidden = true;
    return;
  }
  const en = getLang() === "en";
  const head = [t("kpi"), t("m_unit"), t("baseline"), t("scenario"), t("kpi_delta"), t("ci95"), "p"];
  const body = rows.map((k) => {
    const u = k.unit ?? "";
    const ci = k.delta_ci_low === null || k.delta_ci_low === undefined ? "–"
      : `${formatValue(k.delta_ci_low, u, true)} … ${formatValue(k.delta_ci_high, u, true)}`;
    const sign = k.delta > 0 ? "up" : k.delta < 0 ? "down" : "";
    return `<tr data-kpi="${esc(k.kpi)}" data-delta="${esc(k.delta)}" data-a="${esc(k.a)}" data-b="${esc(k.b)}"
      data-unit="${esc(u)}" class="${k.significant ? "sig" : ""}">
      <th scope="row" title="${esc(k.kpi)}">${esc(en ? k.label_en : k.label_vi)}</th><td>${esc(u === "%" ? "%" : u)}</td>
      <td>${esc(formatValue(k.a, u))}</td><td>${esc(formatValue(k.b, u))}</td>
      <td class="delta ${sign}">${esc(formatValue(k.delta, u, true))}</td><td>${esc(ci)}</td>
      <td>${esc(formatValue(k.p_adjusted))}${k.significant ? " *" : ""}</td></tr>`;
  }).join("");
  const corr = doc.correction ? (en ? doc.correction.en : doc.correction.vi) : "";
  const title = t("kpi_table_title", { b: doc.b?.name ?? doc.b?.id ?? "B", a: doc.a?.name ?? doc.a?.id ?? "A" });
  el.hidden = false;
  el.innerHTML = `<table class="kpi-table" aria-label="${esc(title)}"><caption>${esc(title)}</caption>
    <thead><tr>${head.map((h) => `<th scope="col">${esc(h)}</th>`).join("")}</tr></thead><tbody>${body}</tbody></table>
    <p class="muted small">* ${esc(corr)}; ${esc(t("ci_note", { n: rows[0].n_pairs || "–" }))}</p>`;
}

/** The baseline's side of the swipe compare: its links left of the bar, for the same bin as the scenario. */
export function swipeLayers(S) {
  if (!S.swipe?.on || !S.swipe.left?.length || !S.swipe.colorOf) return [];
  const colorOf = S.swipe.colorOf;
  return [new GeoJsonLayer({
    id: "swipe-baseline", data: S.swipe.left, pickable: true, lineWidthUnits: "pixels", lineWidthMinPixels: 1.5,
    getLineWidth: (f) => (colorOf(f) === CLOSED_COLOR ? 6 : 3), getLineColor: (f) => [...colorOf(f), 235],
    parameters: { depthCompare: "always" },
    updateTriggers: { getLineColor: [S.scenario.t], getLineWidth: [S.scenario.t] },
  })];
}
