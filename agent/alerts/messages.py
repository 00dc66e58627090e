"""Every word of an alert in Vietnamese and English, and the messages built from them: a
subject line, the full text (email, Zalo, Telegram, webhook), the short text an SMS carries
(split into parts of 70 UCS-2 characters), and the documented JSON body.

Numbers, durations and dates use the report's formats (agent/report/i18n.py `Lang`):
`05/12/2026 10:02` and `2 giờ 5 phút` in Vietnamese, `2026-12-05 10:02` and `2 h 5 min` in
English. A test holds both languages to the same keys.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from linkwatch.agent.alerts.event import Event
from linkwatch.agent.report.i18n import Lang

SMS_PART = 70                     # UCS-2 characters in one SMS part
BODY_VERSION = 1                  # of the JSON body (docs/alerts.md)

TITLES: dict[str, dict[str, str]] = {
    "target_down": {"vi": "MẤT KẾT NỐI", "en": "DOWN"},
    "device_down": {"vi": "THIẾT BỊ KHÔNG TRẢ LỜI", "en": "DEVICE NOT ANSWERING"},
    "uplink_down": {"vi": "CỔNG UPLINK NGẮT", "en": "UPLINK DOWN"},
    "link_saturated": {"vi": "ĐƯỜNG TRUYỀN QUÁ TẢI", "en": "LINK SATURATED"},
    "quality": {"vi": "CHẤT LƯỢNG KÉM", "en": "POOR QUALITY"},
    "backlog": {"vi": "DỮ LIỆU CHỜ GỬI QUÁ LÂU", "en": "DATA WAITING TOO LONG"},
    "dead_letters": {"vi": "MÁY CHỦ TỪ CHỐI DỮ LIỆU", "en": "SERVER REJECTED POINTS"},
    "spool_full": {"vi": "BỘ ĐỆM GẦN ĐẦY", "en": "SPOOL NEARLY FULL"},
    "disk_low": {"vi": "Ổ ĐĨA GẦN ĐẦY", "en": "DISK NEARLY FULL"},
    "clock_stepped": {"vi": "ĐỒNG HỒ BỊ NHẢY", "en": "CLOCK STEPPED"},
    "agent_silent": {"vi": "TÁC NHÂN IM LẶNG", "en": "AGENT SILENT"},
}

STRINGS: dict[str, dict[str, str]] = {
    # what each rule says of its subject
    "what_target_down": {"vi": "{name} ({site}) không phản hồi ping",
                         "en": "{name} ({site}) does not answer ping"},
    "what_device_down": {"vi": "{name} ({site}) không trả lời SNMP",
                         "en": "{name} ({site}) does not answer SNMP"},
    "what_uplink_down": {"vi": "cổng {interface} trên {name} ({site}) không hoạt động",
                         "en": "interface {interface} of {name} ({site}) is not up"},
    "what_link_saturated": {
        "vi": "chiều {direction} của {interface} trên {name} ({site}) dùng trung bình "
              "{value} (ngưỡng {limit})",
        "en": "{direction} of {interface} on {name} ({site}) averages {value} (threshold "
              "{limit})"},
    "what_quality": {"vi": "{name} ({site}): {measure} {value}, giới hạn {limit}",
                     "en": "{name} ({site}): {measure} {value}, limit {limit}"},
    "what_backlog": {"vi": "tác nhân {name}: điểm đo cũ nhất chưa gửi đã chờ {value}",
                     "en": "agent {name}: the oldest unsent point has waited {value}"},
    "what_dead_letters": {"vi": "tác nhân {name}: máy chủ từ chối điểm đo (xem "
                                "`linkwatch spool status`)",
                          "en": "agent {name}: a server rejected points (see "
                                "`linkwatch spool status`)"},
    "what_spool_full": {"vi": "tác nhân {name}: bộ đệm dùng {value} dung lượng cho phép",
                        "en": "agent {name}: the spool uses {value} of its size cap"},
    "what_disk_low": {"vi": "tác nhân {name}: ổ đĩa của bộ đệm đã dùng {value}",
                      "en": "agent {name}: the spool's disk is {value} full"},
    "what_clock_stepped": {"vi": "tác nhân {name}: đồng hồ nhảy {value}",
                           "en": "agent {name}: the clock jumped by {value}"},
    "what_agent_silent": {"vi": "tác nhân {name} ({site}) không gửi dữ liệu",
                          "en": "agent {name} ({site}) sends nothing"},
    "measure_loss": {"vi": "mất gói", "en": "loss"},
    "measure_rtt": {"vi": "độ trễ p95", "en": "RTT p95"},
    "direction_in": {"vi": "tải xuống (in)", "en": "download (in)"},
    "direction_out": {"vi": "tải lên (out)", "en": "upload (out)"},
    # the states
    "firing": {"vi": "{title}: {what} từ {since} ({duration}).",
               "en": "{title}: {what} since {since} ({duration})."},
    "repeat": {"vi": "VẪN CÒN — {title}: {what} từ {since} ({duration}).",
               "en": "STILL — {title}: {what} since {since} ({duration})."},
    "resolved": {"vi": "ĐÃ KHÔI PHỤC — {title}: {name} ({site}), sau {duration} ({since} – "
                       "{at}).",
                 "en": "RESOLVED — {title}: {name} ({site}), after {duration} ({since} – "
                       "{at})."},
    "flapping": {"vi": "CHẬP CHỜN — {title}: {name} ({site}) đổi trạng thái {changes} lần "
                       "từ {since}; không báo từng lần nữa cho đến khi ổn định.",
                 "en": "FLAPPING — {title}: {name} ({site}) changed state {changes} times "
                       "since {since}; no message for each change until it settles."},
    "suppressed": {"vi": "{title}: {what} — không báo ({reason}).",
                   "en": "{title}: {what} — not told ({reason})."},
    "cut_off": {"vi": " Bị cắt theo: {count} đối tượng ở {sites}: {names}.",
                "en": " Cut off behind it: {count} targets at {sites}: {names}."},
    "site_down": {"vi": " Điểm {site} cũng mất kết nối (theo kho trung tâm): {names}.",
                  "en": " Its site {site} is down too (in the central store): {names}."},
    "agent_line": {"vi": "Báo bởi tác nhân {agent}.", "en": "Reported by agent {agent}."},
    # short forms (SMS)
    "short_firing": {"vi": "{title}: {name} ({site}) từ {since}",
                     "en": "{title}: {name} ({site}) since {since}"},
    "short_repeat": {"vi": "VẪN {title}: {name} từ {since}",
                     "en": "STILL {title}: {name} since {since}"},
    "short_resolved": {"vi": "KHÔI PHỤC: {name} ({site}) sau {duration}",
                       "en": "UP: {name} ({site}) after {duration}"},
    "short_flapping": {"vi": "CHẬP CHỜN: {name} ({site}) {changes} lần",
                       "en": "FLAPPING: {name} ({site}) {changes}x"},
    "short_suppressed": {"vi": "{title}: {name} ({site}), không báo: {reason}",
                         "en": "{title}: {name} ({site}), not told: {reason}"},
    "short_cut_off": {"vi": "; +{count} bị cắt", "en": "; +{count} cut off"},
    # subject lines
    "subject": {"vi": "[linkwatch] {severity} {title}: {name} ({site})",
                "en": "[linkwatch] {severity} {title}: {name} ({site})"},
    "subject_resolved": {"vi": "[linkwatch] ĐÃ KHÔI PHỤC {title}: {name} ({site})",
                         "en": "[linkwatch] RESOLVED {title}: {name} ({site})"},
    "subject_flapping": {"vi": "[linkwatch] CHẬP CHỜN {title}: {name} ({site})",
                         "en": "[linkwatch] FLAPPING {title}: {name} ({site})"},
    "severity_critical": {"vi": "NGHIÊM TRỌNG", "en": "CRITICAL"},
    "severity_warning": {"vi": "CẢNH BÁO", "en": "WARNING"},
    "severity_info": {"vi": "THÔNG TIN", "en": "INFO"},
    # digests
    "digest_subject": {"vi": "[linkwatch] Tóm tắt {count} cảnh báo ({start} – {end})",
                       "en": "[linkwatch] Digest of {count} alerts ({start} – {end})"},
    "digest_head": {"vi": "Trong lúc không gửi được tin ({start} – {end}):",
                    "en": "While messages could not be sent ({start} – {end}):"},
    "digest_rule": {"vi": "{count} × {title}, dài nhất {longest} ({name})",
                    "en": "{count} × {title}, the longest {longest} ({name})"},
    "digest_still": {"vi": "còn đang: {names}", "en": "still firing: {names}"},
    "digest_over": {"vi": "tất cả đã khôi phục", "en": "all resolved"},
    "short_digest": {"vi": "TÓM TẮT {count} cảnh báo: {rules}",
                     "en": "DIGEST {count} alerts: {rules}"},
    # test messages
    "test_subject": {"vi": "[linkwatch] Tin thử từ {agent}", "en": "[linkwatch] Test from {agent}"},
    "test_text": {"vi": "Tin thử của linkwatch từ tác nhân {agent} qua kênh {channel}: "
                        "kênh này hoạt động.",
                  "en": "linkwatch test message from agent {agent} over channel {channel}: "
                        "this channel works."},
    "seconds": {"vi": "{n} giây", "en": "{n} s"},
    "and_more": {"vi": "và {n} nữa", "en": "and {n} more"},
}

_NAMES_SHOWN = 12                 # a message names at most this many cut-off targets


@dataclass(frozen=True)
class Outgoing:
    """One message for one channel, in every form a channel may need."""

    dedupe_key: str
    kind: str                         # alert, repeat, digest, test
    events: tuple[Event, ...]
    subject: str                      # one line (email Subject:)
    text: str                         # the full message
    short: str                        # SMS: short enough for a few 70-character parts
    language: str
    agent: str

    def body(self) -> dict[str, Any]:
        """The JSON body of webhooks and commands (docs/alerts.md, "Webhook body")."""
        return {"version": BODY_VERSION, "kind": self.kind, "dedupe_key": self.dedupe_key,
                "agent": self.agent, "language": self.language, "subject": self.subject,
                "text": self.text, "events": [e.data() for e in self.events]}


class Words:
    """The alert words of one language, with the report's number and date formats."""

    def __init__(self, code: str, tz: dt.tzinfo) -> None:
        self.code = code
        self.lang = Lang(code)
        self.tz = tz

    def t(self, key: str, **values: object) -> str:
        return STRINGS[key][self.code].format(**values)

    def title(self, rule: str) -> str:
        return TITLES[rule][self.code]

    def when(self, time_ns: int) -> str:
        return self.lang.datetime(time_ns, self.tz)

    def when_short(self, time_ns: int) -> str:
        moment = dt.datetime.fromtimestamp(time_ns / 1e9, self.tz)
        return f"{moment:%H:%M %d/%m}" if self.code == "vi" else f"{moment:%m-%d %H:%M}"

    def duration(self, seconds: float) -> str:
        if seconds < 60:
            return self.t("seconds", n=round(seconds))
        return self.lang.duration(seconds)

    def value(self, value: float | None, unit: str | None) -> str:
        if value is None:
            return "—"
        if unit == "%":
            return self.lang.pct(value, 1)
        if unit == "ms":
            return self.lang.ms(value)
        if unit == "s":
            return self.duration(value)
        return self.lang.number(value, 1)

    def names(self, names: Sequence[str]) -> str:
        shown = list(names[:_NAMES_SHOWN])
        if len(names) > _NAMES_SHOWN:
            shown.append(self.t("and_more", n=len(names) - _NAMES_SHOWN))
        return ", ".join(shown)

    # -- one event --------------------------------------------------------------------

    def what(self, e: Event) -> str:
        s = e.subject
        values: dict[str, object] = {
            "name": s.name, "site": s.site, "interface": s.interface or "",
            "direction": self.t(f"direction_{s.direction}") if s.direction else "",
            "value": self.value(e.value, e.unit), "limit": self.value(e.limit, e.unit)}
        if e.rule == "quality":
            values["measure"] = self.t("measure_rtt" if e.unit == "ms" else "measure_loss")
        return self.t(f"what_{e.rule}", **values)

    def text(self, e: Event, *, repeat: bool = False) -> str:
        """The full message of one change."""
        s = e.subject
        common = {"title": self.title(e.rule), "what": self.what(e), "name": s.name,
                  "site": s.site, "since": self.when(e.since_ns), "at": self.when(e.at_ns),
                  "duration": self.duration(e.duration_s), "changes": e.changes or 0,
                  "reason": e.reason or ""}
        key = "repeat" if repeat and e.state == "firing" else e.state
        text = self.t(key, **common)
        if e.cut_off and e.state != "resolved":
            sites = sorted({site for site, _ in e.cut_off})
            text += self.t("cut_off", count=len(e.cut_off), sites=", ".join(sites),
                           names=self.names([name for _, name in e.cut_off]))
        if e.site_down and e.state == "firing":
            text += self.t("site_down", site=s.site, names=self.names(e.site_down))
        return text

    def short(self, e: Event, *, repeat: bool = False) -> str:
        """The SMS form: the title, the name and the time, no more."""
        s = e.subject
        state = "repeat" if repeat and e.state == "firing" else e.state
        text = self.t(f"short_{state}", title=self.title(e.rule), name=s.name, site=s.site,
                      since=self.when_short(e.since_ns), duration=self.duration(e.duration_s),
                      changes=e.changes or 0, reason=e.reason or "")
        if e.cut_off and e.state in ("firing", "flapping"):
            text += self.t("short_cut_off", count=len(e.cut_off))
        return text

    def subject(self, e: Event) -> str:
        s = e.subject
        key = {"resolved": "subject_resolved", "flapping": "subject_flapping"}.get(
            e.state, "subject")
        return self.t(key, severity=self.t(f"severity_{e.severity}"),
                      title=self.title(e.rule), name=s.name, site=s.site)

    # -- many events --------------------------------------------------------------------

    def digest(self, events: Sequence[Event], now_ns: int) -> tuple[str, str, str]:
        """(subject, text, short) of a digest: per rule, how many alerts and the longest,
        then what is still firing."""
        latest: dict[str, Event] = {}
        for e in sorted(events, key=lambda e: e.at_ns):
            latest[e.key] = e
        start = self.when(min(e.at_ns for e in events))
        end = self.when(now_ns)
        lines = [self.t("digest_head", start=start, end=end)]
        by_rule: dict[str, list[Event]] = {}
        for e in latest.values():
            by_rule.setdefault(e.rule, []).append(e)
        summary = []
        for rule, group in sorted(by_rule.items()):
            def length(e: Event) -> float:
                return e.duration_s if e.state == "resolved" else (now_ns - e.since_ns) / 1e9
            longest = max(group, key=length)
            lines.append("- " + self.t("digest_rule", count=len(group), title=self.title(rule),
                                       longest=self.duration(length(longest)),
                                       name=longest.subject.name))
            summary.append(f"{len(group)} {self.title(rule)}")
        still = [e.subject.name for e in latest.values() if e.state in ("firing", "flapping")]
        lines.append("- " + (self.t("digest_still", names=self.names(still)) if still
                             else self.t("digest_over")))
        subject = self.t("digest_subject", count=len(latest), start=start, end=end)
        short = self.t("short_digest", count=len(latest), rules=", ".join(summary))
        return subject, "\n".join(lines), short


def outgoing(kind: str, events: Sequence[Event], words: Words, *, dedupe_key: str,
             agent: str, now_ns: int) -> Outgoing:
    """The message of a notification: one event (alert, repeat) or many (digest)."""
    if kind == "digest":
        subject, text, short = words.digest(events, now_ns)
    else:
        e = events[0]
        subject = words.subject(e)
        text = words.text(e, repeat=kind == "repeat")
        short = words.short(e, repeat=kind == "repeat")
        text += "\n" + words.t("agent_line", agent=e.agent)
    return Outgoing(dedupe_key, kind, tuple(events), subject, text, short, words.code, agent)


def trial_message(words: Words, *, agent: str, channel: str, dedupe_key: str) -> Outgoing:
    text = words.t("test_text", agent=agent, channel=channel)
    return Outgoing(dedupe_key, "test", (), words.t("test_subject", agent=agent), text, text,
                    words.code, agent)


def sms_parts(text: str, max_parts: int, size: int = SMS_PART) -> list[str]:
    """`text` in parts of at most `size` characters (70: UCS-2), each numbered `(1/2)` when
    there are several; cut at spaces where it can be, and after `max_parts` parts (the last
    ends in `…`). Characters UCS-2 cannot hold (outside the BMP, e.g. emoji) become `?`."""
    text = "".join(c if ord(c) <= 0xFFFF else "?" for c in " ".join(text.split()))
    if len(text) <= size:
        return [text]
    room = size - len(" (9/9)")
    parts: list[str] = []
    rest = text
    while rest:
        if len(rest) <= room:
            parts.append(rest)
            break
        cut = rest.rfind(" ", room // 2, room + 1)
        cut = cut if cut > 0 else room
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if len(parts) > max_parts:
        parts = parts[:max_parts]
        parts[-1] = parts[-1][:room - 1].rstrip() + "…"
    n = len(parts)
    return [f"{p} ({i}/{n})" if n > 1 else p for i, p in enumerate(parts, 1)]
