// The camera table: every camera with its status, when it was last seen and its ward; offline
// cameras first (what an operator has to chase), then online, then those not connected to the IOC.
// A row flies the map to the camera and opens its details.
import { fmtTime, t } from "./i18n.js";
import { esc } from "./ui.js";

const ORDER = { offline: 0, online: 1, not_connected: 2 };

/** Return the cameras in table order: offline first, longest silent first; then by name. */
export function cameraRows(S) {
  const seen = (c) => (c.last_seen ? Date.parse(c.last_seen) : 0);
  return [...S.cameras].sort((a, b) => (ORDER[a.status] ?? 3) - (ORDER[b.status] ?? 3)
    || seen(a) - seen(b) || String(a.name).localeCompare(String(b.name), "vi"));
}

/** Draw the table into `root`; `onPick(camera)` when a row is chosen; `onToggle()` after the filter changes. */
export function renderCameraTable(S, root, onPick, onToggle) {
  const rows = cameraRows(S).filter((c) => S.showUnconnected || c.status !== "not_connected");
  const hidden = S.cameras.length - rows.length;
  const tab = document.getElementById("tab-cameras");
  const offline = S.cameras.filter((c) => c.status === "offline").length;
  if (tab) tab.textContent = `${t("cameras_tab")}${offline ? ` (${offline} ${t("cam_offline_short")})` : ""}`;
  root.innerHTML = `
    <label class="check"><input type="checkbox" id="cam-unconnected" ${S.showUnconnected ? "checked" : ""}>
      ${esc(t("cam_show_unconnected", { n: S.cameras.filter((c) => c.status === "not_connected").length }))}</label>
    <p class="muted" role="status">${esc(t("cam_count", { n: rows.length, hidden }))}</p>
    <table class="cam-table" id="camera-table">
      <caption class="sr-only">${esc(t("cameras_tab"))}</caption>
      <thead><tr><th scope="col">${esc(t("camera"))}</th><th scope="col">${esc(t("status"))}</th>
        <th scope="col">${esc(t("last_seen"))}</th><th scope="col">${esc(t("ward"))}</th></tr></thead>
      <tbody>${rows.slice(0, 400).map((c) => `<tr data-cam="${esc(c.camera_id)}">
        <td><button type="button" class="link" data-cam="${esc(c.camera_id)}">${esc(c.name || c.camera_id)}</button>
          <div class="muted mono">${esc(c.camera_id)}</div></td>
        <td><span class="status ${esc(c.status)}">${esc(t(`cam_${c.status}`))}</span></td>
        <td class="mono">${esc(c.last_seen ? fmtTime(c.last_seen, true) : t("never"))}</td>
        <td>${esc(S.wardName(c.ward_code) || c.ward_code || "")}</td></tr>`).join("")}</tbody>
    </table>`;
  root.querySelector("#cam-unconnected").onchange = (e) => {
    S.showUnconnected = e.target.checked;
    renderCameraTable(S, root, onPick, onToggle);
    root.querySelector("#cam-unconnected").focus();
    onToggle();
  };
  const byId = new Map(S.cameras.map((c) => [c.camera_id, c]));
  for (const b of root.querySelectorAll("button[data-cam]")) b.onclick = () => onPick(byId.get(b.dataset.cam));
}
