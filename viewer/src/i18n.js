// Vietnamese (default) and English strings, and helpers to apply them to the page.

const STRINGS = {
  vi: {
    skip: "Bỏ qua bản đồ, tới bảng điều khiển",
    title: "Bản đồ IOC — Thành phố Lạng Sơn",
    synthetic_note: "dữ liệu tổng hợp / mô phỏng",
    synthetic_title: "Camera, sự kiện và mạng đường là dữ liệu tổng hợp; ranh giới phường là dữ liệu thật.",
    export_png: "Ảnh PNG",
    export_geojson: "GeoJSON",
    export_html: "Bản đồ HTML",
    layers: "Lớp bản đồ",
    events_filter: "Sự kiện",
    category: "Loại",
    window: "Khoảng thời gian",
    all: "Tất cả",
    scenarios: "Kịch bản mô phỏng",
    run: "Lượt chạy",
    sim_layer: "Lớp kết quả",
    compare_with: "So sánh với (bản đồ chênh lệch H3)",
    none: "— không —",
    alerts: "Cảnh báo",
    feed: "Dòng sự kiện",
    details: "Chi tiết",
    click_hint: "Bấm vào camera, sự kiện hoặc ô lục giác để xem chi tiết.",
    live: "Trực tiếp",
    play_title: "Phát lại / tạm dừng (phím cách)",
    time_slider: "Thanh thời gian",
    help: "Phím tắt",
    k_play: "phát / tạm dừng",
    k_step: "lùi / tiến 5 phút",
    k_live: "về trực tiếp",
    k_layers: "bật / tắt lớp theo thứ tự",
    k_lang: "đổi ngôn ngữ",
    k_zoom: "phóng to / thu nhỏ",
    k_close: "đóng",
    close: "Đóng",
    // layers
    l_wards_2025: "Phường, xã (2025)",
    l_units_pre2025: "Đơn vị hành chính trước 2025",
    l_roads: "Đường theo cấp",
    l_river: "Sông Kỳ Cùng",
    l_cameras: "Camera",
    l_camera_coverage: "Vùng phủ camera",
    l_cells: "Mật độ sự kiện (H3)",
    l_hotspots: "Điểm nóng (Getis-Ord Gi*)",
    l_events: "Sự kiện mới",
    l_reports: "Phản ánh của người dân",
    l_scenario: "Kết quả mô phỏng",
    l_compare: "Chênh lệch hai lượt chạy",
    // status
    cameras_online: "{online}/{total} camera trực tuyến",
    cameras_connected: "{connected} đã kết nối",
    stream_live: "● Trực tiếp",
    stream_connecting: "○ Đang kết nối luồng…",
    stream_down: "✕ Mất luồng sự kiện — đang thử lại sau {s} s",
    api_down: "Không kết nối được máy chủ twin ({what}). Đang thử lại sau {s} s…",
    api_back: "Đã kết nối lại máy chủ.",
    layer_missing: "Lớp “{name}” chưa có trên máy chủ ({status}).",
    layer_empty: "Lớp “{name}” không có đối tượng nào.",
    layer_error: "Không tải được lớp “{name}”: {msg}",
    loading: "Đang tải…",
    no_alerts: "Không có cảnh báo đang mở.",
    no_events: "Chưa có sự kiện nào.",
    ack: "Xác nhận",
    acked: "Đã xác nhận",
    ack_failed: "Xác nhận thất bại: {msg}",
    // camera details
    camera: "Camera",
    ward: "Phường/xã",
    kind: "Loại vị trí",
    status: "Trạng thái",
    last_seen: "Lần cuối thấy",
    never: "chưa bao giờ",
    recent_events: "Sự kiện gần đây",
    heading: "Hướng / góc nhìn / tầm",
    online: "trực tuyến",
    offline: "mất kết nối",
    not_connected: "chưa kết nối",
    count: "Số sự kiện",
    cell: "Ô H3",
    gi_z: "Gi* z",
    hot: "điểm nóng",
    cold: "điểm lạnh",
    time: "Thời gian",
    severity: "Mức độ",
    description: "Mô tả",
    service: "Dịch vụ",
    requested: "Gửi lúc",
    // time
    live_now: "Trực tiếp · {t}",
    replay_at: "Phát lại · {t}",
    replay_none: "Chưa có sự kiện để phát lại",
    sim_time: "Mô phỏng · {t}",
    sim_clock: "Giờ mô phỏng",
    compare_metric: "Chỉ số so sánh",
    // scenarios
    no_scenarios: "Không tải được danh sách lượt chạy (máy chủ: {status}).",
    no_scenarios_yet: "Chưa có lượt chạy mô phỏng nào đã xong: chạy `twin scenario run` hoặc POST /scenarios.",
    scenario_loaded: "Đã tải “{layer}” của lượt {run}: {n} đối tượng.",
    scenario_empty: "Lượt chạy {run} không có kết quả cho “{layer}”.",
    compare_loaded: "Chênh lệch {b} − {a} ({metric}): {n} ô.",
    exported: "Đã xuất {what}.",
    nothing_to_export: "Không có lớp nào để xuất.",
    // legend
    lg_speed: "Tốc độ (km/h)",
    lg_fill: "Độ đầy thùng rác (%)",
    lg_diff: "Chênh lệch (B − A)",
    lg_count: "Số sự kiện trong ô",
    road_trunk: "Quốc lộ", road_primary: "Đường chính", road_secondary: "Đường cấp 2",
    road_tertiary: "Đường cấp 3", road_residential: "Đường khu dân cư", road_service: "Đường nội bộ",
    // categories
    c_congestion: "Ùn tắc giao thông", c_accident: "Tai nạn", c_crowding: "Tụ tập đông người",
    c_illegal_dumping: "Đổ rác trái phép", c_flooding: "Ngập úng", c_fire_smoke: "Cháy, khói",
    c_illegal_parking: "Đỗ xe sai quy định", c_waste_overflow: "Rác tràn",
    c_traffic_violation: "Vi phạm giao thông", c_other: "Khác",
    k_intersection: "nút giao", k_market: "chợ", k_school: "trường học", k_bridge: "cầu",
    k_corridor: "trục quốc lộ", k_public_square: "quảng trường",
  },
  en: {
    skip: "Skip the map, go to the controls",
    title: "IOC map — Lạng Sơn city",
    synthetic_note: "synthetic / simulated data",
    synthetic_title: "Cameras, events and the road network are synthetic; ward boundaries are real.",
    export_png: "PNG image",
    export_geojson: "GeoJSON",
    export_html: "HTML map",
    layers: "Map layers",
    events_filter: "Events",
    category: "Category",
    window: "Time window",
    all: "All",
    scenarios: "Simulation scenarios",
    run: "Run",
    sim_layer: "Result layer",
    compare_with: "Compare with (H3 difference map)",
    none: "— none —",
    alerts: "Alerts",
    feed: "Feed",
    details: "Details",
    click_hint: "Click a camera, an event or a hexagon for details.",
    live: "Live",
    play_title: "Replay / pause (space)",
    time_slider: "Time slider",
    help: "Keyboard shortcuts",
    k_play: "play / pause",
    k_step: "back / forward 5 minutes",
    k_live: "back to live",
    k_layers: "toggle layers in order",
    k_lang: "switch language",
    k_zoom: "zoom in / out",
    k_close: "close",
    close: "Close",
    l_wards_2025: "Wards and communes (2025)",
    l_units_pre2025: "Pre-2025 administrative units",
    l_roads: "Roads by class",
    l_river: "Kỳ Cùng river",
    l_cameras: "Cameras",
    l_camera_coverage: "Camera coverage",
    l_cells: "Event density (H3)",
    l_hotspots: "Hotspots (Getis-Ord Gi*)",
    l_events: "Recent events",
    l_reports: "Citizen reports",
    l_scenario: "Simulation result",
    l_compare: "Difference of two runs",
    cameras_online: "{online}/{total} cameras online",
    cameras_connected: "{connected} connected",
    stream_live: "● Live",
    stream_connecting: "○ Connecting to the stream…",
    stream_down: "✕ Event stream lost — retrying in {s} s",
    api_down: "Cannot reach the twin server ({what}). Retrying in {s} s…",
    api_back: "Reconnected to the server.",
    layer_missing: "Layer “{name}” is not available on the server yet ({status}).",
    layer_empty: "Layer “{name}” has no features.",
    layer_error: "Could not load layer “{name}”: {msg}",
    loading: "Loading…",
    no_alerts: "No open alerts.",
    no_events: "No events yet.",
    ack: "Acknowledge",
    acked: "Acknowledged",
    ack_failed: "Acknowledge failed: {msg}",
    camera: "Camera",
    ward: "Ward/commune",
    kind: "Site kind",
    status: "Status",
    last_seen: "Last seen",
    never: "never",
    recent_events: "Recent events",
    heading: "Heading / field of view / range",
    online: "online",
    offline: "offline",
    not_connected: "not connected",
    count: "Events",
    cell: "H3 cell",
    gi_z: "Gi* z",
    hot: "hotspot",
    cold: "cold spot",
    time: "Time",
    severity: "Severity",
    description: "Description",
    service: "Service",
    requested: "Requested",
    live_now: "Live · {t}",
    replay_at: "Replay · {t}",
    replay_none: "No events to replay yet",
    sim_time: "Simulation · {t}",
    sim_clock: "Simulation clock",
    compare_metric: "Compared metric",
    no_scenarios: "Could not list the simulation runs (server: {status}).",
    no_scenarios_yet: "No finished simulation run yet: run `twin scenario run` or POST /scenarios.",
    scenario_loaded: "Loaded “{layer}” of run {run}: {n} features.",
    scenario_empty: "Run {run} has no results for “{layer}”.",
    compare_loaded: "Difference {b} − {a} ({metric}): {n} cells.",
    exported: "Exported {what}.",
    nothing_to_export: "No layer to export.",
    lg_speed: "Speed (km/h)",
    lg_fill: "Bin fill (%)",
    lg_diff: "Difference (B − A)",
    lg_count: "Events per cell",
    road_trunk: "National road", road_primary: "Primary", road_secondary: "Secondary",
    road_tertiary: "Tertiary", road_residential: "Residential", road_service: "Service",
    c_congestion: "Congestion", c_accident: "Accident", c_crowding: "Crowding",
    c_illegal_dumping: "Illegal dumping", c_flooding: "Flooding", c_fire_smoke: "Fire or smoke",
    c_illegal_parking: "Illegal parking", c_waste_overflow: "Waste overflow",
    c_traffic_violation: "Traffic violation", c_other: "Other",
    k_intersection: "intersection", k_market: "market", k_school: "school", k_bridge: "bridge",
    k_corridor: "national-road corridor", k_public_square: "public square",
  },
};

let lang = "vi";
const listeners = [];

/** Return the current language code ("vi" or "en"). */
export function getLang() {
  return lang;
}

/** Translate `key`, filling {placeholders} from `params`; unknown keys fall back to the key itself. */
export function t(key, params = {}) {
  const s = STRINGS[lang][key] ?? STRINGS.vi[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (params[k] ?? `{${k}}`));
}

/** Return a readable label for a coded value (category "c_", kind "k_", road "road_"), or the value. */
export function label(prefix, value) {
  if (value === null || value === undefined || value === "") return "—";
  const key = `${prefix}${value}`;
  return STRINGS[lang][key] ?? String(value).replaceAll("_", " ");
}

/** Format a UTC timestamp (ms or ISO string) in Asia/Ho_Chi_Minh, the time people read here. */
export function fmtTime(ts, withDate = false) {
  if (ts === null || ts === undefined || ts === "" || Number.isNaN(ts)) return t("never");
  const d = typeof ts === "number" ? new Date(ts) : new Date(ts);
  if (Number.isNaN(d.getTime())) return String(ts);
  const opts = { timeZone: "Asia/Ho_Chi_Minh", hour: "2-digit", minute: "2-digit", hour12: false };
  if (withDate) Object.assign(opts, { day: "2-digit", month: "2-digit" });
  return new Intl.DateTimeFormat(lang === "vi" ? "vi-VN" : "en-GB", opts).format(d) + " (UTC+7)";
}

/** Switch the language, re-label the static page and notify listeners. */
export function setLang(next) {
  lang = next === "en" ? "en" : "vi";
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  const btn = document.getElementById("btn-lang");
  if (btn) {
    btn.textContent = lang === "vi" ? "EN" : "VI";
    btn.lang = lang === "vi" ? "en" : "vi";
    btn.setAttribute("aria-label", lang === "vi" ? "Switch to English" : "Chuyển sang tiếng Việt");
  }
  const syn = document.querySelector(".synthetic");
  if (syn) syn.title = t("synthetic_title");
  document.title = t("title");
  try {
    localStorage.setItem("twin.lang", lang);
  } catch {
    /* storage may be disabled (kiosk mode); the default language then applies */
  }
  for (const fn of listeners) fn(lang);
}

/** Call `fn(lang)` after every language switch. */
export function onLangChange(fn) {
  listeners.push(fn);
}

/** Return the language saved by the user, or Vietnamese. */
export function initialLang() {
  const q = new URLSearchParams(location.search).get("lang");
  if (q === "en" || q === "vi") return q;
  try {
    return localStorage.getItem("twin.lang") === "en" ? "en" : "vi";
  } catch {
    return "vi";
  }
}
