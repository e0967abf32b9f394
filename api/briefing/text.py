"""Words of the council briefing in Vietnamese (default) and English, and number formatting.

Vietnamese numbers group thousands with a dot and use a decimal comma (1.234,5); English the
other way round. Times people read are local (Asia/Ho_Chi_Minh, UTC+7).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from api.schemas import categories
from twin.crs import LOCAL_OFFSET

Lang = Literal["vi", "en"]

#: Headline KPIs of a scenario comparison: name → (Vietnamese, English, unit vi, unit en, better
#: "lower"/"higher"). A unit "%" means the KPI is a share in [0, 1] shown as a percentage.
KPI: dict[str, tuple[str, str, str, str, str]] = {
    "traffic.mean_trip_time_s": ("Thời gian đi lại trung bình", "Mean trip time", "giây", "seconds", "lower"),
    "traffic.mean_delay_s": (
        "Thời gian trễ trung bình mỗi chuyến", "Mean delay per trip", "giây", "seconds", "lower",
    ),
    "traffic.p95_trip_time_s": (
        "Thời gian đi lại (95 % chuyến)", "Trip time (95th percentile)", "giây", "seconds", "lower",
    ),
    "traffic.mean_speed_kmh": ("Tốc độ trung bình", "Mean speed", "km/giờ", "km/h", "higher"),
    "traffic.completed_share": ("Tỷ lệ chuyến đi hoàn thành", "Share of trips completed", "%", "%", "higher"),
    "traffic.vehicle_hours": ("Tổng giờ xe", "Vehicle-hours", "giờ xe", "vehicle-h", "lower"),
    "traffic.total_delay_h": ("Tổng thời gian trễ", "Total delay", "giờ", "h", "lower"),
    "traffic.max_queue_veh": ("Hàng đợi dài nhất", "Longest queue", "xe", "vehicles", "lower"),
    "waste.tonnes_collected": ("Rác được thu gom", "Waste collected", "tấn", "t", "higher"),
    "waste.tonnes_overflow": ("Rác tràn ra ngoài thùng", "Waste overflowing bins", "tấn", "t", "lower"),
    "waste.overflow_share": ("Tỷ lệ rác tràn", "Share of waste overflowing", "%", "%", "lower"),
    "waste.km_driven": ("Quãng đường xe rác", "Garbage-truck distance", "km", "km", "lower"),
    "waste.fuel_l": ("Nhiên liệu tiêu thụ", "Fuel used", "lít", "L", "lower"),
    "waste.co2_t": ("Phát thải CO₂", "CO₂ emitted", "tấn", "t", "lower"),
    "waste.overtime_hours": ("Giờ làm thêm của xe", "Truck overtime", "giờ", "h", "lower"),
}  # fmt: skip

#: Why named scenario runs are not presented (`collect.scenario_refusal`), in words.
REFUSALS: dict[str, tuple[str, str]] = {
    "same_run": ("kịch bản và phương án đối chứng là cùng một lần chạy",
                 "the scenario and its reference are the same run"),
    "not_baseline": ("phương án đối chứng (--vs) không phải phương án hiện trạng: nó có thay đổi so với "
                     "hiện trạng", "the reference (--vs) is not a baseline: it changes the city"),
    "kinds": ("hai lần chạy không cùng loại mô phỏng", "the two runs are not of the same kind of simulation"),
    "seeds": ("hai lần chạy có chung quá ít lượt chạy ngẫu nhiên để so sánh theo cặp (cần ít nhất {n})",
              "the two runs share too few random runs for a paired comparison (at least {n} needed)"),
}  # fmt: skip

#: Datasets of the methods page: key → (Vietnamese, English).
DATASETS: dict[str, tuple[str, str]] = {
    "wards_2025": ("Ranh giới phường 2025", "2025 ward boundaries"),
    "roads": ("Mạng lưới đường", "Road network"),
    "cameras": ("Danh mục camera", "Camera registry"),
    "events": ("Sự kiện từ camera", "Camera events"),
    "reports": ("Phản ánh của người dân (Open311)", "Citizen reports (Open311)"),
    "scenarios": ("Kịch bản mô phỏng", "Simulated scenarios"),
}


def source_text(src: dict[str, Any], lang: Lang) -> str:
    """Return the source column of the methods page's data table in `lang`."""
    vi = lang == "vi"
    name, count = src["name"], src.get("count")
    if name == "cameras":
        return (
            f"danh mục sinh tự động ({count} vị trí, {src.get('connected')} kết nối)"
            if vi
            else f"generated registry ({count} sites, {src.get('connected')} connected)"
        )
    if name == "events":
        share = pct(float(src.get("share") or 0.0), lang)
        return (
            f"{num(int(count or 0), lang)} sự kiện ({share} gắn nhãn tổng hợp)"
            if vi
            else f"{num(int(count or 0), lang)} events ({share} labelled synthetic)"
        )
    if name == "reports":
        return f"{num(int(count or 0), lang)} {'phản ánh' if vi else 'requests'}"
    text = str(src.get("source", ""))
    if name == "wards_2025" and "sapnhap" in text:  # the provenance's URL and its English note
        base = text.split(" (", maxsplit=1)[0]
        return (
            f"{base} (ranh giới theo bản đồ tham chiếu sapnhap.bando.com.vn)"
            if vi
            else f"{base} (boundaries from the sapnhap.bando.com.vn reference map)"
        )
    if name == "roads" and src.get("kind") == "synthetic":
        return (
            "sinh tự động bên trong ranh giới thật của các phường (lưới phố dày ở khu đô thị cũ, các "
            "quốc lộ, các cầu qua sông Kỳ Cùng); không phải số liệu khảo sát"
            if vi
            else "generated inside the real ward boundaries (dense streets in the old urban core, the "
            "national roads, the Kỳ Cùng bridges); not surveyed"
        )
    return text


#: Who the report is addressed to (`twin brief --to`): since 1 July 2025 the wards report to the province.
ADDRESSEES: dict[str, tuple[str, str]] = {
    "province": ("Ủy ban nhân dân tỉnh Lạng Sơn", "Lạng Sơn Provincial People's Committee"),
    "dong-kinh": ("Ủy ban nhân dân phường Đông Kinh", "People's Committee of Đông Kinh ward"),
    "luong-van-tri": ("Ủy ban nhân dân phường Lương Văn Tri", "People's Committee of Lương Văn Tri ward"),
    "tam-thanh": ("Ủy ban nhân dân phường Tam Thanh", "People's Committee of Tam Thanh ward"),
    "ky-lua": ("Ủy ban nhân dân phường Kỳ Lừa", "People's Committee of Kỳ Lừa ward"),
}


def place_date(ts: datetime, lang: Lang) -> str:
    """Return the place and date line of an administrative document (Decree 30/2020/NĐ-CP), local time."""
    loc = ts + LOCAL_OFFSET
    if lang == "vi":
        return f"Lạng Sơn, ngày {loc:%d} tháng {loc:%m} năm {loc:%Y}"
    return f"Lạng Sơn, {loc.day} {loc:%B %Y}"


def duration(seconds: float, lang: Lang) -> str:
    """Return a length of time in hours (under two days) or days, in words of `lang`."""
    hours = seconds / 3600
    if hours < 48:
        return f"{num(hours, lang, 1)} {'giờ' if lang == 'vi' else 'hours'}"
    return f"{num(hours / 24, lang, 1)} {'ngày' if lang == 'vi' else 'days'}"


T: dict[str, tuple[str, str]] = {
    "title": ("Tình hình đô thị và vận hành đô thị thông minh",
              "The urban situation and smart-city operations"),
    "doc_type": ("BÁO CÁO", "REPORT"),
    "motto_1": ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "SOCIALIST REPUBLIC OF VIET NAM"),
    "motto_2": ("Độc lập - Tự do - Hạnh phúc", "Independence - Freedom - Happiness"),
    "parent_body": ("UBND TỈNH LẠNG SƠN", "LẠNG SƠN PROVINCIAL PEOPLE'S COMMITTEE"),
    "issuer": ("TRUNG TÂM ĐIỀU HÀNH\nĐÔ THỊ THÔNG MINH", "INTELLIGENT OPERATIONS\nCENTRE (IOC)"),
    "number": ("Số: …/BC-IOC", "No.: …/BC-IOC"),
    "to": ("Kính gửi", "To"),
    "recipients": ("Nơi nhận:", "Recipients:"),
    "as_above": ("Như trên;", "As above;"),
    "archive": ("Lưu: VT, IOC.", "Filed: Records office, IOC."),
    "signer_title": ("GIÁM ĐỐC", "DIRECTOR"),
    "signer_note": ("(Ký, ghi rõ họ tên, đóng dấu)", "(Signature, full name, seal)"),
    "coverage": ("Phạm vi dữ liệu thực có", "Data actually observed"),
    "subtitle": ("Trung tâm Điều hành đô thị thông minh (IOC) — báo cáo định kỳ",
                 "Intelligent Operations Centre (IOC) — periodic report"),
    "period": ("Kỳ báo cáo", "Period"),
    "generated": ("Lập lúc", "Generated"),
    "summary": ("Tóm tắt", "Summary"),
    "events": ("Sự kiện từ camera", "Camera events"),
    "events_total": ("Tổng số sự kiện", "Events in total"),
    "by_category": ("Theo loại", "By category"),
    "by_ward": ("Theo phường", "By ward"),
    "ward": ("Phường", "Ward"),
    "category": ("Loại", "Category"),
    "count": ("Số lượng", "Count"),
    "share": ("Tỷ lệ", "Share"),
    "total": ("Tổng", "Total"),
    "population": ("Dân số", "Population"),
    "per_10k": ("trên 10.000 dân", "per 10,000 people"),
    "cameras": ("Tình trạng camera", "Camera health"),
    "forecast": ("Giao thông giờ tới (dự báo từ số đếm camera)",
                 "Traffic in the next hour (forecast from camera counts)"),
    "no_forecast": ("Chưa có số đếm giao thông: chưa có dự báo.", "No traffic counts yet: no forecast."),
    "fc_intro": ("Dự báo lập lúc {made}, dựa trên số đếm đến {as_of}; nhu cầu: {rests}.",
                 "Made at {made} from the counts up to {as_of}; demand: {rests}."),
    "fc_prior": ("mặc định (chưa hiệu chỉnh)", "the baseline (not calibrated yet)"),
    "fc_calibrated": ("hiệu chỉnh {job} ({share} giờ-camera giữ lại có GEH < 5)",
                      "calibration {job} ({share} of held-out camera-hours at GEH < 5)"),
    "fc_horizon": ("Sau", "Horizon"),
    "fc_nowcast": ("Dự báo (xe/giờ)", "Forecast (veh/h)"),
    "fc_persistence": ("Như hiện tại", "As now"),
    "fc_historical": ("Như tuần trước", "As last week"),
    "fc_error": ("Sai số kiểm tra MAE: dự báo / như hiện tại / tuần trước",
                 "Backtest MAE: forecast / as now / last week"),
    "fc_note": ("Tổng xe/giờ trên {n} tuyến có camera; sai số: cùng cách dự báo lập trước 1 giờ, so với "
                "số đếm đến sau.", "Vehicles per hour summed over {n} counted links; error: the same "
                "forecast made an hour earlier against the counts that came after."),
    "cameras_total": ("Vị trí camera trên địa bàn 4 phường", "Camera sites in the four wards"),
    "cameras_connected": ("Đã kết nối với IOC", "Connected to the IOC"),
    "cameras_online": ("Đang hoạt động (lần báo cáo cuối)", "Online (latest report)"),
    "availability": ("Tỷ lệ hoạt động trung bình (thời gian quan sát)", "Mean availability (observed time)"),
    "hotspots": ("Điểm nóng", "Hotspots"),
    "hotspots_note": ("Ô lục giác H3 (khoảng 0,1 km²) có số sự kiện cao bất thường so với xung quanh "
                      "(thống kê Getis-Ord Gi*, mức ý nghĩa 5 %, đã hiệu chỉnh so sánh bội).",
                      "H3 hexagons (about 0.1 km²) with unusually many events compared with their "
                      "surroundings (Getis-Ord Gi*, 5 % level, corrected for multiple testing)."),
    "z": ("Chỉ số z", "z-score"),
    "reports": ("Phản ánh của người dân", "Citizen reports"),
    "reports_total": ("Phản ánh nhận được", "Reports received"),
    "reports_closed": ("Đã xử lý xong", "Closed"),
    "reports_open": ("Đang xử lý", "Still open"),
    "time_to_close": ("Thời gian xử lý (trung vị)", "Time to close (median)"),
    "time_to_close_h": ("Thời gian xử lý trung vị (giờ)", "Median time to close (hours)"),
    "time_to_close_p90": ("Thời gian xử lý (90 % phản ánh)", "Time to close (90th percentile)"),
    "service": ("Lĩnh vực", "Service"),
    "hours": ("giờ", "hours"),
    "alerts": ("Cảnh báo", "Alerts"),
    "scenario": ("Kịch bản quy hoạch", "Planning scenario"),
    "scenario_vs": ("so với", "compared with"),
    "seeds": ("lượt chạy ngẫu nhiên chung (so sánh theo cặp)", "random runs in common (paired comparison)"),
    "value": ("Giá trị", "Value"),
    "ci95": ("Khoảng tin cậy 95 %", "95 % interval"),
    "indicator": ("Chỉ tiêu", "Indicator"),
    "delta": ("Thay đổi", "Change"),
    "better": ("tốt hơn", "better"),
    "worse": ("kém hơn", "worse"),
    "unchanged": ("không đổi", "unchanged"),
    "uncertain": ("chưa chắc chắn", "not conclusive"),
    "map_events": ("Bản đồ sự kiện theo ô H3 và điểm nóng", "Events per H3 cell and hotspots"),
    "map_scenario": ("Bản đồ thay đổi mức ùn tắc của kịch bản", "Change in congestion under the scenario"),
    "chart_categories": ("Sự kiện theo loại", "Events by category"),
    "chart_days": ("Sự kiện theo ngày (giờ Việt Nam)", "Events per day (Vietnam time)"),
    "chart_hours": ("Sự kiện theo giờ (giờ Việt Nam)", "Events per hour (Vietnam time)"),
    "chart_cameras": ("Camera hoạt động theo thời gian", "Cameras online over time"),
    "methods": ("Phương pháp và dữ liệu", "Methods and data"),
    "real": ("thật", "real"),
    "synthetic": ("tổng hợp (mô phỏng, không phải số liệu thật)", "synthetic (generated, not real data)"),
    "simulated": ("kết quả mô phỏng", "simulation output"),
    "dataset": ("Dữ liệu", "Dataset"),
    "kind": ("Loại", "Kind"),
    "source": ("Nguồn", "Source"),
    "no_events": ("Không có sự kiện nào trong kỳ.", "No events in this period."),
    "no_reports": ("Không có phản ánh nào trong kỳ.", "No citizen reports in this period."),
    "no_scenario": ("Báo cáo này không trình bày kịch bản: chưa chỉ định kịch bản và phương án đối chứng "
                    "(--scenario, --vs), và báo cáo không tự lấy lần chạy gần nhất làm kịch bản.",
                    "This report presents no scenario: none was named with its reference (--scenario, "
                    "--vs), and the report does not take the latest run as the scenario."),
    "refused": ("Báo cáo này không trình bày kết quả kịch bản vì {why}.",
                "This report presents no scenario results because {why}."),
    "legend_count": ("Số sự kiện", "Events"),
    "legend_hot": ("Điểm nóng", "Hotspot"),
    "legend_cam_on": ("Camera đã kết nối", "Connected camera"),
    "legend_cam_off": ("Camera chưa kết nối", "Camera not connected"),
    "legend_closed": ("Đoạn đường bị đóng", "Closed road"),
    "legend_delta": ("Thay đổi chỉ số ùn tắc", "Change in congestion index"),
    "river": ("Sông Kỳ Cùng", "Kỳ Cùng river"),
    "page": ("Trang", "Page"),
    "per_day": ("trung bình mỗi ngày có dữ liệu", "per day of data"),
    "compare": ("So sánh với kỳ trước", "Compared with the previous period"),
    "this_period": ("Kỳ này", "This period"),
    "prev_period": ("Kỳ trước", "Previous period"),
    "prev_note": ("Số lượng phụ thuộc vào thời gian có dữ liệu của mỗi kỳ; so sánh nên dựa trên số "
                  "trung bình mỗi ngày có dữ liệu.",
                  "Counts depend on how long each period has data; compare the figures per day of data."),
    "ward_sections": ("Tình hình từng phường", "Ward by ward"),
    "ward_events": ("Sự kiện kỳ này", "Events this period"),
    "per_day_col": ("Mỗi ngày có dữ liệu", "Per day of data"),
    "per_10k_col": ("Trên 10.000 dân", "Per 10,000 people"),
    "ward_line": ("{events} sự kiện (kỳ trước {before}; thay đổi {change}), nhiều nhất: {top}.",
                  "{events} events (previous period {before}; change {change}), most often: {top}."),
    "top_category": ("Loại nhiều nhất", "Most frequent"),
    "ward_hot": ("Điểm nóng trong phường", "Hotspots in the ward"),
    "ward_reports": ("Phản ánh", "Citizen reports"),
    "place": ("Địa điểm", "Place"),
    "by_unit": ("Theo đơn vị xử lý", "By handling unit"),
    "by_status": ("Theo trạng thái", "By status"),
    "unit": ("Đơn vị", "Unit"),
    "status": ("Trạng thái", "Status"),
    "received": ("Tiếp nhận", "Received"),
    "on_time": ("Xử lý đúng hạn", "Closed on time"),
    "late": ("Xử lý quá hạn", "Closed late"),
    "open": ("Chưa xử lý xong", "Still open"),
    "overdue": ("Đã quá hạn", "Overdue"),
    "target": ("Thời hạn xử lý", "Target"),
    "on_time_share": ("Tỷ lệ đúng hạn", "On-time share"),
    "recommendations": ("Đề xuất, kiến nghị", "Recommendations"),
    "next_tasks": ("Nhiệm vụ kỳ tới", "Tasks for the next period"),
    "interval_note": ("Cột “Khoảng tin cậy 95 % của thay đổi”: nếu lặp lại mô phỏng nhiều lần với các "
                      "lượt chạy ngẫu nhiên khác, thay đổi thật B − A nằm trong khoảng này với độ tin cậy "
                      "95 %; khoảng chứa số 0 nghĩa là chưa thể kết luận kịch bản tốt hơn hay kém hơn.",
                      "The “95 % interval of the change” column: were the simulation repeated with other "
                      "random runs, the true change B − A would lie in this range with 95 % confidence; "
                      "a range that contains 0 means we cannot yet say whether the scenario is better or "
                      "worse."),
    "ci_delta": ("Khoảng tin cậy 95 % của thay đổi", "95 % interval of the change"),
    "scenario_refused": ("Không trình bày kết quả kịch bản", "Scenario results not presented"),
    "hot_left_out": ("{n} ô có ý nghĩa thống kê nhưng dưới {m} sự kiện không được liệt kê.",
                     "{n} significant cells with fewer than {m} events are left out."),
    "tables_note": ("Các bảng số liệu của báo cáo (CSV, XLSX) đi kèm tệp này để nhập vào hệ thống báo cáo.",
                    "The report's tables (CSV, XLSX) come with this file for a reporting system to ingest."),
    "scale": ("Thước tỷ lệ", "Scale"),
    "synthetic_banner": ("Lưu ý: báo cáo này có dùng dữ liệu tổng hợp (mô phỏng); xem mục "
                         "Phương pháp và dữ liệu trước khi dùng để ra quyết định.",
                         "Note: this report uses synthetic (simulated) data; read the Methods and "
                         "data section before using it for decisions."),
}  # fmt: skip


def t(key: str, lang: Lang) -> str:
    """Return the text of `key` in `lang`."""
    vi, en = T[key]
    return vi if lang == "vi" else en


def category(name: str, lang: Lang) -> str:
    """Return the readable name of a category (event or Open311 service), from the category table."""
    return categories.table().label(name, lang)


def num(x: float | int | None, lang: Lang, digits: int = 0) -> str:
    """Format a number with the language's separators (``–`` for missing)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    text = f"{x:,.{digits}f}"
    if lang == "vi":
        text = text.replace(",", "\u2009").replace(".", ",").replace("\u2009", ".")
    return text


def pct(x: float | None, lang: Lang, digits: int = 0) -> str:
    """Format a share in [0, 1] as a percentage."""
    if x is None or not math.isfinite(x):
        return "–"
    return f"{num(100.0 * x, lang, digits)}\u00a0%"  # no line break between a number and its %


def local(ts: datetime, lang: Lang, with_time: bool = True) -> str:
    """Format an aware UTC time as local Lạng Sơn time (UTC+7)."""
    loc = ts + LOCAL_OFFSET
    day = f"{loc:%d/%m/%Y}" if lang == "vi" else f"{loc:%d %b %Y}"
    return f"{day} {loc:%H:%M}" if with_time else day
