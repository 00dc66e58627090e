"""Every word of the report in Vietnamese (the default) and English, and number and date
formats for each: `99,52 %` and `12/10/2026` in Vietnamese, `99.52%` and `2026-10-12` in
English. A test holds both languages to the same keys."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

LANGS = ("vi", "en")

STRINGS: dict[str, dict[str, str]] = {
    "title": {"vi": "Báo cáo chất lượng đường truyền", "en": "Link quality report"},
    "subtitle": {"vi": "Thời gian hoạt động, băng thông và chất lượng theo điểm",
                 "en": "Uptime, bandwidth and quality by site"},
    "period": {"vi": "Kỳ báo cáo", "en": "Period"},
    "generated": {"vi": "Lập lúc", "en": "Generated"},
    "source": {"vi": "Nguồn dữ liệu", "en": "Data source"},
    "source_local": {"vi": "lịch sử cục bộ của tác nhân ({where})",
                     "en": "the agent's local history ({where})"},
    "source_influx": {"vi": "InfluxDB {where}", "en": "InfluxDB {where}"},
    "source_victoriametrics": {"vi": "VictoriaMetrics {where}",
                               "en": "VictoriaMetrics {where}"},
    "summary": {"vi": "Tóm tắt: các điểm xếp theo mức thiếu hụt",
                "en": "Summary: sites ranked by gap"},
    "district": {"vi": "Toàn huyện", "en": "Whole district"},
    "rank": {"vi": "Hạng", "en": "Rank"},
    "site": {"vi": "Điểm", "en": "Site"},
    "verdict": {"vi": "Kết luận", "en": "Verdict"},
    "availability": {"vi": "Độ sẵn sàng", "en": "Availability"},
    "target": {"vi": "Mục tiêu", "en": "Target"},
    "coverage": {"vi": "Độ phủ dữ liệu", "en": "Coverage"},
    "downtime": {"vi": "Thời gian gián đoạn", "en": "Downtime"},
    "outages": {"vi": "Số lần mất kết nối", "en": "Outages"},
    "maintenance": {"vi": "Bảo trì (không tính)", "en": "Maintenance (left out)"},
    "flaps": {"vi": "Chập chờn", "en": "Flaps"},
    "mttr": {"vi": "MTTR (thời gian khôi phục TB)", "en": "MTTR (mean time to repair)"},
    "mtbf": {"vi": "MTBF (thời gian giữa hai sự cố TB)",
             "en": "MTBF (mean time between failures)"},
    "outage_list": {"vi": "Danh sách sự cố", "en": "Outages"},
    "start": {"vi": "Bắt đầu", "en": "Start"},
    "end": {"vi": "Kết thúc", "en": "End"},
    "duration": {"vi": "Thời lượng", "en": "Duration"},
    "probe": {"vi": "Đối tượng đo", "en": "Target"},
    "charged_to": {"vi": "Tính cho", "en": "Charged to"},
    "ongoing": {"vi": "đang diễn ra", "en": "ongoing"},
    "data_gap": {"vi": "mất dữ liệu", "en": "data gap"},
    "maintenance_began": {"vi": "vào giờ bảo trì", "en": "maintenance began"},
    "no_outage": {"vi": "Không có sự cố.", "en": "No outage."},
    "bandwidth": {"vi": "Băng thông", "en": "Bandwidth"},
    "direction": {"vi": "Chiều", "en": "Direction"},
    "down": {"vi": "tải xuống", "en": "download"},
    "up": {"vi": "tải lên", "en": "upload"},
    "mean": {"vi": "Trung bình", "en": "Mean"},
    "p95": {"vi": "Phân vị 95", "en": "95th percentile"},
    "peak": {"vi": "Đỉnh", "en": "Peak"},
    "capacity": {"vi": "Dung lượng hợp đồng", "en": "Contracted capacity"},
    "utilisation": {"vi": "Mức sử dụng (p95)", "en": "Utilisation (p95)"},
    "hours_above": {"vi": "Số giờ trên {th} (giờ hành chính)",
                    "en": "Hours above {th} (office hours)"},
    "required": {"vi": "Nhu cầu khai báo", "en": "Declared need"},
    "insufficient": {"vi": "không đủ dữ liệu", "en": "insufficient data"},
    "heat_title": {"vi": "Mức sử dụng {direction} theo giờ và ngày (%)",
                   "en": "{direction} utilisation by hour and day (%)"},
    "hour": {"vi": "Giờ trong ngày", "en": "Hour of day"},
    "hours_unit": {"vi": "giờ", "en": "hours"},
    "day": {"vi": "Ngày", "en": "Day"},
    "gap_legend": {"vi": "Ô trắng: không có dữ liệu", "en": "White: no data"},
    "no_uplink": {"vi": "Không đo băng thông: chưa khai báo cổng uplink cho điểm này.",
                  "en": "Bandwidth not measured: no uplink interface is declared for this site."},
    "quality": {"vi": "Chất lượng", "en": "Quality"},
    "rtt_median": {"vi": "Độ trễ khứ hồi (trung vị)", "en": "Round-trip time (median)"},
    "rtt_p95": {"vi": "Độ trễ khứ hồi (p95)", "en": "Round-trip time (p95)"},
    "loss": {"vi": "Tỉ lệ mất gói (khi hoạt động)", "en": "Packet loss (while up)"},
    "jitter": {"vi": "Độ biến thiên trễ (jitter)", "en": "Jitter"},
    "limit": {"vi": "Giới hạn", "en": "Limit"},
    "value": {"vi": "Giá trị", "en": "Value"},
    "measure": {"vi": "Chỉ số", "en": "Measure"},
    "no_data": {"vi": "Không có dữ liệu trong kỳ.", "en": "No data in the period."},
    "avail_chart": {"vi": "Độ sẵn sàng so với mục tiêu", "en": "Availability against target"},
    "sites_detail": {"vi": "Chi tiết từng điểm", "en": "Site details"},
    "methods": {"vi": "Phương pháp", "en": "Methods"},
    "definitions": {"vi": "Định nghĩa", "en": "Definitions"},
    "excluded": {"vi": "Dữ liệu bị loại trừ và lý do", "en": "What was excluded and why"},
    "uplink": {"vi": "Cổng đo", "en": "Measured on"},
    "description": {"vi": "Mô tả", "en": "Description"},
    "cause": {"vi": "Nguyên nhân", "en": "Cause"},
    "cause_power": {"vi": "mất điện", "en": "power cut"},
    "cause_radio": {"vi": "suy giảm vô tuyến", "en": "radio fade"},
    "cause_link": {"vi": "đường truyền", "en": "link"},
    "ev_on_battery": {"vi": "{device} chạy ắc quy {start} – {end}",
                      "en": "{device} on battery {start} – {end}"},
    "ev_silent": {"vi": "{device} ngừng trả lời cùng cả điểm sau khi chạy ắc quy {start} – {end}",
                  "en": "{device} silent with the site after running on battery {start} – {end}"},
    "ev_signal": {"vi": "{device} {link}: tín hiệu {value} dưới ngưỡng {limit} {start} – {end}",
                  "en": "{device} {link}: signal {value} below the {limit} floor {start} – {end}"},
    "ev_ccq": {"vi": "{device} {link}: CCQ {value} dưới {limit} {start} – {end}",
               "en": "{device} {link}: CCQ {value} below {limit} {start} – {end}"},
    "by_cause": {"vi": "Thời gian gián đoạn theo nguyên nhân", "en": "Downtime by cause"},
    "radio_panel": {"vi": "Vô tuyến", "en": "Radio"},
    "radio_link": {"vi": "Liên kết", "en": "Link"},
    "signal_median": {"vi": "Tín hiệu (trung vị)", "en": "Signal (median)"},
    "signal_p5": {"vi": "Tín hiệu (p5)", "en": "Signal (p5)"},
    "signal_worst": {"vi": "Tín hiệu thấp nhất", "en": "Worst signal"},
    "ccq_median": {"vi": "CCQ (trung vị)", "en": "CCQ (median)"},
    "degraded": {"vi": "Thời gian suy giảm", "en": "Time degraded"},
    "radio_chart": {"vi": "Tín hiệu theo giờ (dBm); đường đứt nét: ngưỡng {floor}",
                    "en": "Signal by hour (dBm); dashed line: the {floor} floor"},
    "power_panel": {"vi": "Nguồn điện", "en": "Power"},
    "on_battery": {"vi": "Thời gian chạy ắc quy", "en": "Time on battery"},
    "power_events": {"vi": "Số lần mất điện", "en": "Power events"},
    "longest_on_battery": {"vi": "Lần chạy ắc quy dài nhất", "en": "Longest on battery"},
    "lowest_charge": {"vi": "Mức pin thấp nhất", "en": "Lowest charge"},
    "ran_flat": {"vi": "Số lần ắc quy cạn", "en": "Battery ran flat"},
    "power_chart": {"vi": "Số giờ chạy ắc quy mỗi ngày", "en": "Hours on battery per day"},
    # verdicts
    "v_ok": {"vi": "Đạt yêu cầu: độ sẵn sàng {availability} (mục tiêu {target}).",
             "en": "Meets its requirements: availability {availability} (target {target})."},
    "v_no_data": {"vi": "Không có dữ liệu đo trong kỳ: không thể đánh giá.",
                  "en": "No measurements in the period: cannot be judged."},
    "v_availability_gap": {
        "vi": "Độ sẵn sàng thấp: {availability}, dưới mục tiêu {target}; gián đoạn {downtime} "
              "qua {outages} sự cố.",
        "en": "Availability short: {availability} against a target of {target}; {downtime} "
              "down in {outages} outages."},
    "v_coverage_low": {
        "vi": "Độ phủ dữ liệu chỉ {coverage}: các số liệu dựa trên ít dữ liệu.",
        "en": "Coverage only {coverage}: the figures rest on little data."},
    "v_uplink_full": {
        "vi": "Đường truyền đầy: p95 {direction} {p95} trên {capacity} ({util}); {hours_upgrade} "
              "trên {upgrade} trong giờ hành chính. Cần ít nhất {recommended}.",
        "en": "Uplink full: p95 {direction} {p95} of {capacity} ({util}); {hours_upgrade} above "
              "{upgrade} during office hours. Needs at least {recommended}."},
    "v_uplink_busy": {
        "vi": "Đường truyền bận: p95 {direction} {p95} trên {capacity} ({util}), vượt ngưỡng "
              "cảnh báo {warn}; {hours_warn} trên {warn} trong giờ hành chính.",
        "en": "Uplink busy: p95 {direction} {p95} of {capacity} ({util}), above the {warn} "
              "warning threshold; {hours_warn} above {warn} during office hours."},
    "v_capacity_short": {
        "vi": "Thiếu dung lượng: để phục vụ {conferences} cuộc họp trực tuyến HD đồng thời "
              "({conference} mỗi cuộc) cùng nhu cầu nền, chiều {direction} cần {required}, "
              "hợp đồng chỉ {capacity}. Đề xuất ít nhất {recommended}.",
        "en": "Capacity short: carrying the declared {conferences} concurrent HD video "
              "conferences ({conference} each) and the baseline needs {required} {direction}, "
              "against {capacity} contracted. Recommend at least {recommended}."},
    "v_rtt_high": {"vi": "Độ trễ cao: p95 khứ hồi {value}, giới hạn {limit}.",
                   "en": "High latency: p95 round trip {value}, limit {limit}."},
    "v_loss_high": {"vi": "Mất gói cao: {value} khi hoạt động, giới hạn {limit}.",
                    "en": "High loss: {value} while up, limit {limit}."},
    "v_jitter_high": {"vi": "Jitter cao: {value}, giới hạn {limit}.",
                      "en": "High jitter: {value}, limit {limit}."},
    "v_power_remedy": {
        "vi": "Điện: {power} trong tổng {downtime} gián đoạn là do mất điện; ắc quy UPS cạn "
              "{flat} lần → cần ắc quy dung lượng lớn hơn hoặc điện mặt trời.",
        "en": "Power: {power} of the {downtime} downtime were power cuts; battery run flat: "
              "{flat} → a larger battery or solar."},
    "v_power_held": {
        "vi": "Điện: UPS giữ điểm hoạt động qua {events} lần mất điện ({on_battery} chạy ắc "
              "quy, mức pin thấp nhất {charge}).",
        "en": "Power: the UPS carried the site through power cuts: {events} ({on_battery} on "
              "battery, lowest charge {charge})."},
    "v_radio_remedy": {
        "vi": "Vô tuyến: tín hiệu dưới {floor} trong {share} thời gian đo ({device}); {radio} "
              "trong tổng {downtime} gián đoạn xảy ra sau khi tín hiệu suy giảm → cân chỉnh "
              "lại hoặc thay ăng-ten lớn hơn.",
        "en": "Radio: signal below {floor} for {share} of the time measured ({device}); "
              "{radio} of the {downtime} downtime followed a fade → realign the antennas or "
              "fit larger ones."},
    "v_link_remedy": {
        "vi": "Đường truyền: {link} trong tổng {downtime} gián đoạn không do mất điện hay suy "
              "giảm vô tuyến → lỗi đường truyền của nhà cung cấp: làm việc với nhà cung cấp "
              "hoặc bổ sung đường dự phòng.",
        "en": "Link: {link} of the {downtime} downtime had neither a power cut nor a radio "
              "fade behind it → the provider's line: take it up with the provider or add a "
              "backup link."},
    # methods
    "d_states": {
        "vi": "Mỗi chu kỳ đo của một đối tượng là LÊN, XUỐNG, KHÔNG TỚI ĐƯỢC (đường truyền cấp "
              "trên đang mất) hoặc KHÔNG RÕ (không có mẫu: agent dừng, mất đường truyền của "
              "chính agent, hoặc dữ liệu không về). KHÔNG RÕ không bao giờ tính là lên hay xuống.",
        "en": "Each probe cycle of a target is UP, DOWN, UNREACHABLE (its parent link is down) "
              "or UNKNOWN (no sample: the agent was stopped, its own uplink was cut, or the data "
              "never arrived). UNKNOWN is never counted as down or as up."},
    "d_outage": {
        "vi": "Sự cố: ít nhất {n} chu kỳ XUỐNG liên tiếp, bắt đầu ở chu kỳ lỗi đầu tiên và kết "
              "thúc ở lần thành công đầu tiên. Chuỗi ngắn hơn là chập chờn, đếm riêng. Sự cố "
              "nằm trọn trong thời gian mất của điểm cấp trên được tính cho điểm cấp trên.",
        "en": "Outage: at least {n} consecutive DOWN cycles, from the first failed cycle to the "
              "first success. Shorter runs are flaps, counted apart. An outage wholly inside "
              "the parent's downtime is charged to the parent."},
    "d_availability": {
        "vi": "Độ sẵn sàng = thời gian lên ÷ (thời gian lên + xuống); thời gian KHÔNG RÕ, "
              "KHÔNG TỚI ĐƯỢC và thời gian bảo trì đã khai báo bị loại. Độ phủ = thời gian có "
              "dữ liệu ÷ (kỳ báo cáo − bảo trì). MTTR = tổng thời lượng sự cố ÷ số sự cố; "
              "MTBF = thời gian lên ÷ số sự cố.",
        "en": "Availability = up time ÷ (up + down time); UNKNOWN and UNREACHABLE time and "
              "declared maintenance windows are left out. Coverage = time with data ÷ (period "
              "− maintenance). MTTR = total outage duration ÷ outages; MTBF = up time ÷ "
              "outages."},
    "d_bandwidth": {
        "vi": "Băng thông: trung bình 5 phút của tốc độ hợp lệ (tính từ bộ đếm); một cửa sổ "
              "hợp lệ khi có đủ mẫu cho nửa cửa sổ. Phân vị 95 (xếp hạng gần nhất) trên các "
              "cửa sổ hợp lệ, đánh dấu không đủ dữ liệu khi độ phủ dưới 80 %. Mức sử dụng = "
              "tốc độ ÷ dung lượng hợp đồng. Khoảng trống dữ liệu bị loại khỏi phân vị và số "
              "giờ vượt ngưỡng, và hiện thành ô trống, không bao giờ là số 0.",
        "en": "Bandwidth: 5-minute averages of valid rates (from counters); a window is valid "
              "when polls cover half of it. The 95th percentile (nearest rank) is over the "
              "valid windows, marked insufficient below 80% coverage. Utilisation = rate ÷ "
              "contracted capacity. Data gaps are excluded from percentiles and hours above "
              "thresholds, and drawn as blank cells, never as zero."},
    "d_gap": {
        "vi": "Thiếu hụt băng thông: mức sử dụng p95 vượt ngưỡng kế hoạch (cảnh báo 70 %, "
              "nâng cấp 80 %, tuỳ điểm), hoặc nhu cầu khai báo (số cuộc họp trực tuyến HD × "
              "tốc độ mỗi cuộc + nhu cầu nền) vượt dung lượng hợp đồng. Giờ hành chính: "
              "thứ Hai đến thứ Sáu, theo giờ địa phương.",
        "en": "Bandwidth gap: p95 utilisation above the planning threshold (70% warn, 80% "
              "upgrade, per site), or the declared need (HD video conferences × rate each + "
              "baseline) above the contracted capacity. Office hours: Monday to Friday, local "
              "time."},
    "d_quality": {
        "vi": "Chất lượng: độ trễ khứ hồi (trung vị, p95) trên rtt_avg_ms của từng chu kỳ; "
              "mất gói tính trên các chu kỳ đang hoạt động; jitter trung bình. Giới hạn mặc "
              "định theo ITU-T G.114 / Y.1541: trễ một chiều ≤ 400 ms (khứ hồi 800 ms), mất "
              "gói ≤ 1 %, jitter ≤ 50 ms. Với điểm có nhiều đối tượng đo, lấy giá trị xấu nhất.",
        "en": "Quality: round-trip time (median, p95) over each cycle's rtt_avg_ms; loss over "
              "the cycles while up; mean jitter. Default limits from ITU-T G.114 / Y.1541: "
              "one-way delay ≤ 400 ms (800 ms round trip), loss ≤ 1%, jitter ≤ 50 ms. Where a "
              "site has several targets, the worst is shown."},
    "d_radio": {
        "vi": "Suy giảm vô tuyến: một cửa sổ 5 phút có tín hiệu trung bình dưới ngưỡng của "
              "điểm (mặc định −75 dBm) hoặc CCQ trung bình dưới 70 %. Trung vị và p5 tính "
              "trên trung bình các cửa sổ; giá trị xấu nhất là lần đo xấu nhất.",
        "en": "Radio degradation: a 5-minute window whose mean signal is below the site's "
              "floor (default −75 dBm) or whose mean CCQ is below 70 %. Median and p5 are "
              "over the windows' means; the worst is the worst single poll."},
    "d_power": {
        "vi": "Sự kiện mất điện: UPS chạy ắc quy, hoặc UPS ngừng trả lời cùng mọi thiết bị "
              "khác của điểm ngay sau khi đang chạy ắc quy (ắc quy cạn). UPS im lặng cùng "
              "điểm khi đang chạy điện lưới là dấu hiệu đứt đường truyền, không phải mất điện.",
        "en": "Power event: a UPS on battery, or a UPS that stops answering together with "
              "every other device of its site right after running on battery (the battery "
              "ran flat). A UPS that falls silent with its site while on mains is what a cut "
              "link looks like, not a power cut."},
    "d_cause": {
        "vi": "Nguyên nhân sự cố: mất điện khi sự cố trùng một sự kiện mất điện tại điểm hoặc "
              "điểm cấp trên; suy giảm vô tuyến khi vô tuyến của điểm suy giảm trong 15 phút "
              "trước sự cố; còn lại là đường truyền. Mọi bằng chứng đều được liệt kê, không "
              "bằng chứng nào bị bỏ qua.",
        "en": "Outage cause: power when the outage overlaps a power event at its site or its "
              "parent; radio when the site's radio was degraded in the 15 minutes before it "
              "began; link otherwise. Every piece of evidence found is listed, none is "
              "guessed away."},
    "excl_unknown": {
        "vi": "Thời gian KHÔNG RÕ (không có mẫu) bị loại khỏi độ sẵn sàng và làm giảm độ phủ.",
        "en": "UNKNOWN time (no sample) is left out of availability and lowers coverage."},
    "excl_gaps": {
        "vi": "Cửa sổ 5 phút không đủ mẫu hợp lệ (khoảng trống, bộ đếm bị đặt lại) bị loại "
              "khỏi thống kê băng thông.",
        "en": "5-minute windows without enough valid rates (gaps, counter resets) are left "
              "out of the bandwidth figures."},
    "excl_parent": {
        "vi": "{site}: {count} sự cố trong lúc điểm cấp trên {parent} mất kết nối được tính "
              "cho {parent}.",
        "en": "{site}: {count} outages while the parent {parent} was down are charged to "
              "{parent}."},
    "excl_maintenance": {
        "vi": "{site}: {duration} trong các khung giờ bảo trì đã khai báo không tính vào độ "
              "sẵn sàng.",
        "en": "{site}: {duration} inside declared maintenance windows is left out of "
              "availability."},
    "excl_no_uplink": {"vi": "{site}: chưa khai báo cổng uplink, không đo băng thông.",
                       "en": "{site}: no uplink declared, bandwidth not measured."},
    "excl_insufficient": {
        "vi": "{site}: băng thông chiều {direction} chỉ phủ {coverage}, phân vị 95 không đủ "
              "tin cậy.",
        "en": "{site}: {direction} bandwidth covers only {coverage}; its p95 is insufficient."},
    "footer": {"vi": "Tạo bởi linkwatch", "en": "Made by linkwatch"},
    "none": {"vi": "—", "en": "—"},
}


@dataclass(frozen=True)
class Lang:
    code: str

    def t(self, key: str, **values: object) -> str:
        text = STRINGS[key][self.code]
        return text.format(**values) if values else text

    # -- numbers ------------------------------------------------------------------------

    def number(self, value: float | None, digits: int = 1) -> str:
        if value is None:
            return "—"
        text = f"{value:,.{digits}f}"
        if self.code == "vi":   # 1.234,5
            text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
        return text

    def pct(self, value: float | None, digits: int = 2) -> str:
        if value is None:
            return "—"
        return self.number(value, digits) + (" %" if self.code == "vi" else "%")

    def rate(self, bps: float | None) -> str:
        if bps is None:
            return "—"
        if bps >= 1e9:
            return f"{self.number(bps / 1e9, 2)} Gbit/s"
        if bps >= 1e6:
            return f"{self.number(bps / 1e6, 1)} Mbit/s"
        return f"{self.number(bps / 1e3, 0)} kbit/s"

    def dbm(self, value: float | None) -> str:
        return "—" if value is None else f"{self.number(value, 1)} dBm"

    def ms(self, value: float | None) -> str:
        return "—" if value is None else f"{self.number(value, 1)} ms"

    def hours(self, value: float | None) -> str:
        if value is None:
            return "—"
        return f"{self.number(value, 1)} {'giờ' if self.code == 'vi' else 'h'}"

    def duration(self, seconds: float | None) -> str:
        """`2 ngày 3 giờ 5 phút` / `2 d 3 h 5 min`."""
        if seconds is None:
            return "—"
        minutes = round(seconds / 60)
        d, rest = divmod(minutes, 1440)
        h, m = divmod(rest, 60)
        units = ("ngày", "giờ", "phút") if self.code == "vi" else ("d", "h", "min")
        parts = [f"{n} {u}" for n, u in zip((d, h, m), units, strict=True) if n]
        return " ".join(parts) or f"0 {units[2]}"

    # -- dates --------------------------------------------------------------------------

    def date(self, moment: dt.date) -> str:
        return moment.strftime("%d/%m/%Y") if self.code == "vi" else moment.isoformat()

    def datetime(self, time_ns: int | None, tz: dt.tzinfo) -> str:
        if time_ns is None:
            return "—"
        moment = dt.datetime.fromtimestamp(time_ns / 1e9, tz)
        return f"{self.date(moment.date())} {moment:%H:%M}"
