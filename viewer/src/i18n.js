// Vietnamese (default) and English strings, and helpers to apply them to the page.
import { categoryRow } from "./data.js";

const STRINGS = {
  vi: {
    about: "Giới thiệu",
    about_h: "Bản đồ công khai của thành phố",
    about_cells: "Mỗi ô lục giác cho biết số sự kiện giao thông và môi trường trong 6 giờ qua, tổng hợp ẩn danh; ô có dưới 3 sự kiện không hiển thị.",
    about_reports: "Phản ánh của người dân hiện ở vị trí gần đúng, không kèm nội dung hay thông tin liên hệ.",
    about_synthetic: "Camera, sự kiện và mạng đường trên bản đồ này là dữ liệu tổng hợp (mô phỏng); ranh giới phường là dữ liệu thật.",
    about_staff: "Cán bộ IOC và các đơn vị: mở liên kết đăng nhập được cấp để xem bản đồ nghiệp vụ.",
    title_public: "Bản đồ Lạng Sơn — số liệu công khai",
    title_planner: "Bản đồ quy hoạch — Lạng Sơn",
    search_ph_public: "Tìm: phường, đường, cầu…",
    search_label_public: "Tìm phường, đường, cầu",
    stream_aggregates: "Số liệu tổng hợp · cập nhật {t}",
    stream_reconnecting: "○ Đang kết nối lại… · dữ liệu cách đây {age}",
    api_trying: "Không kết nối được máy chủ. Đang thử lại… {age}",
    viewer_error: "Bản đồ gặp lỗi khi khởi động; hãy tải lại trang.",
    report_swatch: "phản ánh",
    request_id: "Mã phản ánh",
    rs_open: "đang xử lý",
    rs_closed: "đã xử lý xong",
    l_alerts: "Cảnh báo",
    layer_no_access: "Tài khoản này không xem được lớp “{name}”.",
    // the next-hour forecast panel (forecast.js)
    fc_title: "Giờ tới (dự báo)",
    fc_made: "Lập lúc",
    fc_asof: "Dựa trên số đếm đến",
    fc_rests: "Hiệu chỉnh",
    fc_prior: "chưa hiệu chỉnh (nhu cầu mặc định)",
    fc_horizon: "Thời điểm",
    fc_nowcast: "Dự báo",
    fc_persistence: "Như hiện tại",
    fc_historical: "Tuần trước",
    fc_error: "Sai số kiểm tra (MAE %)",
    fc_show: "Hiện lớp dự báo",
    fc_none: "Chưa có dự báo",
    fc_unavailable: "Dự báo tạm thời không có; sẽ tải lại khi có dự báo mới",
    fc_geh: "GEH<5 (camera giữ lại)",
    fc_vehh: "xe/giờ trên các tuyến có camera",
    incidents: "Sự cố",
    inc_open: "Đang mở",
    inc_filters: "Lọc sự cố",
    inc_count: "{n} sự cố",
    inc_none: "Không có sự cố nào khớp bộ lọc.",
    inc_no_access: "Khóa này không xem được danh sách sự cố.",
    inc_grouped: "Số lần lặp lại được gộp",
    inc_back: "Danh sách",
    inc_occurrences: "Số lần / thời gian",
    inc_due: "Hạn xử lý",
    inc_show_map: "Xem trên bản đồ",
    inc_snapshot: "Ảnh hiện trường",
    inc_note: "Ghi chú (gửi tới người dân nếu là phản ánh)",
    inc_photo: "Ảnh (JPEG ≤ 200 kB)",
    inc_photo_pick: "Chọn ảnh…",
    inc_photo_none: "chưa chọn ảnh",
    inc_add_note: "Thêm ghi chú",
    inc_assign_to: "Giao cho đơn vị",
    inc_assign: "Giao việc",
    inc_assigned_to: "Giao cho",
    inc_history: "Lịch sử xử lý",
    inc_revision: "Phiên bản {r}",
    inc_sending: "Đang gửi…",
    inc_stale: "Người khác vừa cập nhật sự cố này; đã tải lại bản mới — hãy kiểm tra rồi thao tác lại.",
    inc_photo_big: "Ảnh {kb} kB, quá giới hạn 200 kB.",
    inc_need_note: "Hãy nhập ghi chú hoặc chọn ảnh.",
    act_created: "Tạo sự cố",
    act_grouped: "Lặp lại (gộp)",
    act_reopened: "Mở lại (lặp lại)",
    act_status: "Đổi trạng thái",
    act_note: "Ghi chú",
    act_assign: "Giao việc",
    act_auto: "Hệ thống",
    unit: "Đơn vị",
    street: "Đường / địa điểm",
    overdue: "Quá hạn",
    field_title: "Sự cố được giao cho tôi",
    cameras_tab: "Camera",
    cam_online: "trực tuyến",
    cam_offline: "mất kết nối",
    cam_not_connected: "chưa kết nối",
    cam_offline_short: "mất kết nối",
    cam_show_unconnected: "Hiện {n} camera chưa kết nối IOC",
    cam_count: "{n} camera (ẩn {hidden})",
    search_label: "Tìm phường, camera, đường, sự cố",
    search_ph: "Tìm: phường, camera, đường, sự cố…",
    search_none: "Không tìm thấy.",
    kind_ward: "Phường",
    kind_camera: "Camera",
    kind_street: "Đường",
    kind_incident: "Sự cố",
    bridge: "Cầu",
    k_search: "tìm kiếm",
    stream_signin: "Trực tiếp: cần đăng nhập",
    skip: "Bỏ qua bản đồ, tới bảng điều khiển",
    title: "Bản đồ IOC — Lạng Sơn",
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
    name_star: "Tên* = tên đường giả định (dữ liệu tổng hợp)",
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
    stream_down: "✕ Mất luồng sự kiện — thử lại sau {s} s · dữ liệu cách đây {age}",
    api_down: "Không kết nối được máy chủ. Thử lại sau {s} s · dữ liệu cách đây {age}.",
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
    no_scenarios: "Chưa tải được danh sách lượt chạy; sẽ thử lại.",
    no_scenarios_yet: "Chưa có lượt chạy mô phỏng nào đã xong.",
    scenario_loaded: "Đã tải “{layer}” của lượt {run}: {n} đối tượng.",
    scenario_empty: "Lượt chạy {run} không có kết quả cho “{layer}”.",
    compare_loaded: "Chênh lệch {b} − {a} (kịch bản − hiện trạng), {metric}: {n} ô.",
    exported: "Đã xuất {what}.",
    nothing_to_export: "Không có lớp nào để xuất.",
    // legend
    lg_speed: "Tốc độ (km/h)",
    lg_fill: "Độ đầy thùng rác (%)",
    lg_diff: "Chênh lệch kịch bản − hiện trạng",
    lg_closed: "cấm đường",
    free_flow_short: "thông thoáng",
    lg_no_flow: "không có xe",
    state_closed: "đang cấm",
    state_flowing: "có xe chạy",
    state_no_flow: "không có xe",
    seeds_n: "{n} hạt giống",
    kpi: "Chỉ số",
    m_unit: "Đơn vị đo",
    baseline: "Hiện trạng",
    scenario: "Kịch bản",
    kpi_delta: "Kịch bản − hiện trạng",
    ci95: "Khoảng tin cậy 95 %",
    kpi_table_title: "Chỉ số quy hoạch: {b} − {a}",
    ci_note: "khoảng tin cậy 95 % của hiệu ghép cặp trên {n} hạt giống chung",
    flow: "Lưu lượng",
    speed: "Tốc độ",
    lg_count: "Số sự kiện trong ô",
    road_trunk: "Quốc lộ", road_primary: "Đường chính", road_secondary: "Đường cấp 2",
    road_tertiary: "Đường cấp 3", road_residential: "Đường khu dân cư", road_service: "Đường nội bộ",
    k_intersection: "nút giao", k_market: "chợ", k_school: "trường học", k_bridge: "cầu",
    k_corridor: "trục quốc lộ", k_public_square: "quảng trường",
  },
  en: {
    about: "About",
    about_h: "The city’s public map",
    about_cells: "Each hexagon shows how many traffic and environment events happened in the last 6 hours, counted anonymously; hexagons with fewer than 3 events are not shown.",
    about_reports: "Citizen reports appear at an approximate place, without their words or contact details.",
    about_synthetic: "Cameras, events and the road network on this map are synthetic (simulated); ward boundaries are real.",
    about_staff: "IOC and city-unit staff: open the sign-in link you were given for the operations map.",
    title_public: "Lạng Sơn map — public figures",
    title_planner: "Planning map — Lạng Sơn",
    search_ph_public: "Search: ward, street, bridge…",
    search_label_public: "Search wards, streets, bridges",
    stream_aggregates: "Aggregated figures · updated {t}",
    stream_reconnecting: "○ Reconnecting… · data {age} old",
    api_trying: "Cannot reach the server. Trying again… {age}",
    viewer_error: "The map failed to start; please reload the page.",
    report_swatch: "citizen report",
    request_id: "Report number",
    rs_open: "open",
    rs_closed: "resolved",
    l_alerts: "Alerts",
    layer_no_access: "This account cannot see the layer “{name}”.",
    // the next-hour forecast panel (forecast.js)
    fc_title: "Next hour (forecast)",
    fc_made: "Made",
    fc_asof: "From counts up to",
    fc_rests: "Calibration",
    fc_prior: "none yet (the baseline demand)",
    fc_horizon: "Horizon",
    fc_nowcast: "Forecast",
    fc_persistence: "As now",
    fc_historical: "Last week",
    fc_error: "Backtest error (MAE %)",
    fc_show: "Show forecast layer",
    fc_none: "No forecast yet",
    fc_unavailable: "Forecast unavailable for now; it loads again when a new one is made",
    fc_geh: "GEH<5 (held-out cameras)",
    fc_vehh: "veh/h on the counted links",
    incidents: "Incidents",
    inc_open: "Open",
    inc_filters: "Filter incidents",
    inc_count: "{n} incidents",
    inc_none: "No incident matches the filters.",
    inc_no_access: "This key cannot see the incident list.",
    inc_grouped: "Repeated occurrences grouped",
    inc_back: "List",
    inc_occurrences: "Occurrences / time",
    inc_due: "Due",
    inc_show_map: "Show on the map",
    inc_snapshot: "Evidence photo",
    inc_note: "Note (sent to the citizen for reports)",
    inc_photo: "Photo (JPEG ≤ 200 kB)",
    inc_photo_pick: "Choose a photo…",
    inc_photo_none: "no photo chosen",
    inc_add_note: "Add note",
    inc_assign_to: "Assign to unit",
    inc_assign: "Assign",
    inc_assigned_to: "Assigned to",
    inc_history: "History",
    inc_revision: "Revision {r}",
    inc_sending: "Sending…",
    inc_stale: "Someone else just updated this incident; the new version is loaded — check it and act again.",
    inc_photo_big: "The photo is {kb} kB, over the 200 kB limit.",
    inc_need_note: "Type a note or choose a photo.",
    act_created: "Created",
    act_grouped: "Repeated (grouped)",
    act_reopened: "Reopened (recurred)",
    act_status: "Status changed",
    act_note: "Note",
    act_assign: "Assigned",
    act_auto: "System",
    unit: "Unit",
    street: "Street / place",
    overdue: "Overdue",
    field_title: "Incidents assigned to me",
    cameras_tab: "Cameras",
    cam_online: "online",
    cam_offline: "offline",
    cam_not_connected: "not connected",
    cam_offline_short: "offline",
    cam_show_unconnected: "Show {n} cameras not connected to the IOC",
    cam_count: "{n} cameras ({hidden} hidden)",
    search_label: "Search wards, cameras, streets, incidents",
    search_ph: "Search: ward, camera, street, incident…",
    search_none: "Nothing found.",
    kind_ward: "Ward",
    kind_camera: "Camera",
    kind_street: "Street",
    kind_incident: "Incident",
    bridge: "Bridge",
    k_search: "search",
    stream_signin: "Live: sign-in needed",
    skip: "Skip the map, go to the controls",
    title: "IOC map — Lạng Sơn",
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
    name_star: "Name* = synthetic street name",
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
    stream_down: "✕ Event stream lost — reconnecting in {s} s · data {age} old",
    api_down: "Cannot reach the server. Retrying in {s} s · data {age} old.",
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
    no_scenarios: "Could not list the simulation runs yet; trying again.",
    no_scenarios_yet: "No finished simulation run yet.",
    scenario_loaded: "Loaded “{layer}” of run {run}: {n} features.",
    scenario_empty: "Run {run} has no results for “{layer}”.",
    compare_loaded: "Difference {b} − {a} (scenario − baseline), {metric}: {n} cells.",
    exported: "Exported {what}.",
    nothing_to_export: "No layer to export.",
    lg_speed: "Speed (km/h)",
    lg_fill: "Bin fill (%)",
    lg_diff: "Difference scenario − baseline",
    lg_closed: "closed",
    free_flow_short: "free flow",
    lg_no_flow: "no traffic",
    state_closed: "closed",
    state_flowing: "flowing",
    state_no_flow: "no traffic",
    seeds_n: "{n} seeds",
    kpi: "KPI",
    m_unit: "Unit",
    baseline: "Baseline",
    scenario: "Scenario",
    kpi_delta: "Scenario − baseline",
    ci95: "95 % interval",
    kpi_table_title: "Planning KPIs: {b} − {a}",
    ci_note: "95 % interval of the paired difference over {n} common seeds",
    flow: "Flow",
    speed: "Speed",
    lg_count: "Events per cell",
    road_trunk: "National road", road_primary: "Primary", road_secondary: "Secondary",
    road_tertiary: "Tertiary", road_residential: "Residential", road_service: "Service",
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

/** Add the strings of a module ({vi: {...}, en: {...}}), e.g. the planner's (author.js). */
export function addStrings(more) {
  for (const l of ["vi", "en"]) Object.assign(STRINGS[l], more[l] ?? {});
}

/** Return a readable label for a coded value (category "c_" from the category table, kind "k_", road
 * "road_"), or the value. */
export function label(prefix, value) {
  if (value === null || value === undefined || value === "") return "—";
  const row = prefix === "c_" ? categoryRow(value) : undefined;
  if (row) return row[lang] ?? row.vi;
  const key = `${prefix}${value}`;
  return STRINGS[lang][key] ?? String(value).replaceAll("_", " ");
}

/** The zone people read times in: GET /config `timezone` (its one home is twin/crs.py); the city's own
 * zone only until the configuration has loaded. */
let TIME_ZONE = "Asia/Ho_Chi_Minh";
let ZONE_LABEL = "UTC+7";

/** Take the service's zone (GET /config `timezone`); the offset label is read from the zone itself. */
export function setTimeZone(zone) {
  if (!zone || zone === TIME_ZONE) return;
  try {
    const part = new Intl.DateTimeFormat("en-GB", { timeZone: zone, timeZoneName: "shortOffset" })
      .formatToParts(new Date()).find((x) => x.type === "timeZoneName");
    TIME_ZONE = zone;
    ZONE_LABEL = (part?.value ?? zone).replace("GMT", "UTC");
    FORMATS.clear();
  } catch {
    console.warn(`unknown time zone from /config: ${zone}`);
  }
}

/** Format a UTC timestamp (ms or ISO string) in the city's zone, the time people read here. */
export function fmtTime(ts, withDate = false) {
  if (ts === null || ts === undefined || ts === "" || Number.isNaN(ts)) return t("never");
  const d = typeof ts === "number" ? new Date(ts) : new Date(ts);
  if (Number.isNaN(d.getTime())) return String(ts);
  return `${timeFormat(withDate).format(d)} (${ZONE_LABEL})`;
}

const FORMATS = new Map();
/** One Intl.DateTimeFormat per language and style: building one costs far more than formatting. */
function timeFormat(withDate) {
  const key = `${lang}:${withDate ? 1 : 0}`;
  let f = FORMATS.get(key);
  if (!f) {
    const opts = { timeZone: TIME_ZONE, hour: "2-digit", minute: "2-digit", hour12: false };
    if (withDate) Object.assign(opts, { day: "2-digit", month: "2-digit" });
    f = new Intl.DateTimeFormat(lang === "vi" ? "vi-VN" : "en-GB", opts);
    FORMATS.set(key, f);
  }
  return f;
}

/** Switch the language, re-label the static page and notify listeners. */
export function setLang(next) {
  lang = next === "en" ? "en" : "vi";
  relabel();
  try {
    localStorage.setItem("twin.lang", lang);
  } catch {
    /* storage may be disabled (kiosk mode); the default language then applies */
  }
  for (const fn of listeners) fn(lang);
}

/** Label the static page in the current language (data-i18n, data-i18n-title, data-i18n-placeholder). */
export function relabel() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  const btn = document.getElementById("btn-lang");
  if (btn) {
    btn.textContent = lang === "vi" ? "EN" : "VI";
    btn.lang = lang === "vi" ? "en" : "vi";
    btn.setAttribute("aria-label", lang === "vi" ? "Switch to English" : "Chuyển sang tiếng Việt");
  }
  const syn = document.querySelector(".synthetic");
  if (syn) syn.title = t("synthetic_title");
  document.title = document.getElementById("title")?.textContent || t("title");
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
