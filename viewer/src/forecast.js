// The next-hour traffic forecast (issue 14): the forecast layer (links coloured by the forecast flow at
// the chosen horizon, counted links outlined) and the "next hour" panel (when it was made, what it
// rests on, per horizon the forecast against both baselines, and the backtest error). Data: GET
// /forecast, reloaded when the stream says a new one was made (`forecast` message).
import { GeoJsonLayer } from "@deck.gl/layers";
import { fmtTime, t } from "./i18n.js";
import { esc } from "./ui.js";

const HORIZONS = [15, 30, 60];
/** Flow ramp (veh/h): pale to deep orange, then red. */
const FLOW_RAMP = [[255, 236, 179], [255, 183, 77], [251, 140, 0], [230, 81, 0], [183, 28, 28]];
const MAX_FLOW = 1500;

const w = (k) => t(`fc_${k}`);

/** Forecast state on the viewer state `S` (S.forecast). */
export function forecastState() {
  return { doc: null, horizon: 60, visible: true, message: "", loads: 0 };
}

/** Load GET /forecast into S.forecast (a 403/404 leaves a message, never an error banner). */
export async function loadForecast(S, getJSON, onDone) {
  const F = S.forecast;
  try {
    F.doc = await getJSON("/forecast", undefined, { quiet: true, timeout: 600000 });
    F.message = "";
  } catch (e) {
    // the words people read; the server's own message goes to the console, not to the wall screen
    if (e?.status !== 404) console.warn("GET /forecast:", e?.status ?? "", e?.message ?? e);
    F.message = e?.status === 404 ? w("none") : w("unavailable");
    F.denied = e?.status === 401 || e?.status === 403; // a key without forecast:read: no panel
  }
  F.loads += 1;
  onDone?.();
}

function flowColor(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return [120, 120, 120, 80];
  const x = Math.max(0, Math.min(1, v / MAX_FLOW)) * (FLOW_RAMP.length - 1);
  const i = Math.min(Math.floor(x), FLOW_RAMP.length - 2);
  const f = x - i;
  const c = FLOW_RAMP[i].map((a, k) => Math.round(a + f * (FLOW_RAMP[i + 1][k] - a)));
  return [...c, 230];
}

/** The deck.gl layers of the forecast (none when hidden or not loaded). */
export function forecastLayers(S) {
  const F = S.forecast;
  if (!F?.visible || !F.doc?.links?.features?.length) return [];
  const key = `flow_${F.horizon}_veh_h`;
  return [new GeoJsonLayer({
    id: "forecast", data: F.doc.links, pickable: true, stroked: true, filled: false,
    lineWidthUnits: "pixels",
    getLineColor: (f) => flowColor(f.properties[key]),
    getLineWidth: (f) => (f.properties.counted ? 5 : 2.5),
    updateTriggers: { getLineColor: [F.horizon, F.doc.made_at] },
  })];
}

const fmt = (v) => (v === null || v === undefined ? "–" : Math.round(v).toLocaleString());
const time = (iso) => (iso ? fmtTime(iso, true) : "–");

/** Draw the "next hour" panel into `el`; `onChange` re-renders the map after a horizon or toggle. */
export function renderForecastPanel(S, el, onChange) {
  const F = S.forecast;
  const d = F.doc;
  el.hidden = Boolean(F.denied && !d);
  if (!d) {
    el.innerHTML = `<h3>${esc(w("title"))}</h3><p class="note">${esc(F.message || w("none"))}</p>`;
    return;
  }
  const rests = d.rests_on?.calibration
    ? `${esc(d.rests_on.calibration)} · ${esc(w("geh"))} ${(100 * (d.rests_on.held_out?.geh_lt5_share ?? NaN)).toFixed(0)} %`
    : esc(w("prior"));
  const rows = HORIZONS.map((h) => {
    const t = d.counted_totals_veh_h?.[String(h)] ?? {};
    const e = d.backtest?.errors?.[String(h)] ?? {};
    const err = (m) => (e[m] ? `${e[m].mae_pct.toFixed(0)}` : "–");
    return `<tr data-h="${h}"${h === F.horizon ? ' aria-current="true"' : ""}>
      <th><button type="button" class="link" data-fc-h="${h}">+${h} min</button></th>
      <td data-m="nowcast">${fmt(t.nowcast)}</td><td data-m="persistence">${fmt(t.persistence)}</td>
      <td data-m="historical">${fmt(t.historical)}</td>
      <td data-e="nowcast">${err("nowcast")}</td><td data-e="persistence">${err("persistence")}</td>
      <td data-e="historical">${err("historical")}</td></tr>`;
  }).join("");
  el.innerHTML = `<h3>${esc(w("title"))}</h3>
    <p class="fc-meta">${esc(w("asof"))} <b data-fc="as_of">${esc(time(d.as_of))}</b> ·
      ${esc(w("made"))} ${esc(time(d.made_at))}<br>${esc(w("rests"))}: <span data-fc="rests">${rests}</span></p>
    <table class="fc-table"><thead>
      <tr><th rowspan="2">${esc(w("horizon"))}</th><th colspan="3">${esc(w("vehh"))}</th><th colspan="3">${esc(w("error"))}</th></tr>
      <tr><th>${esc(w("nowcast"))}</th><th>${esc(w("persistence"))}</th><th>${esc(w("historical"))}</th>
      <th>${esc(w("nowcast"))}</th><th>${esc(w("persistence"))}</th><th>${esc(w("historical"))}</th></tr>
    </thead><tbody>${rows}</tbody></table>
    <label><input type="checkbox" data-fc-toggle ${F.visible ? "checked" : ""}> ${esc(w("show"))}</label>
    ${d.synthetic ? `<p class="note">${esc(t("synthetic_note"))}</p>` : ""}`;
  for (const b of el.querySelectorAll("[data-fc-h]")) {
    b.onclick = () => { F.horizon = Number(b.dataset.fcH); renderForecastPanel(S, el, onChange); onChange(); };
  }
  el.querySelector("[data-fc-toggle]").onchange = (ev) => { F.visible = ev.target.checked; onChange(); };
}
