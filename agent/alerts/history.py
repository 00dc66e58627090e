"""`linkwatch alerts`: what fires now and what fired, as rows for agent.cli.table.

Now: from this agent's own alert states (`--local`), or the newest `alert` point of each
alert in the store. History: every `alert` point of the period, from either.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from linkwatch.agent.alerts.event import NAME_TAG, Event
from linkwatch.agent.alerts.messages import Words
from linkwatch.agent.config.schema import Config
from linkwatch.agent.query.backend import Backend
from linkwatch.agent.query.selection import Selection
from linkwatch.agent.query.timerange import iso
from linkwatch.agent.spool import AlertRecord
from linkwatch.collector.sample import Sample

COLUMNS = ("at", "state", "severity", "rule", "site", "subject", "since", "duration_s",
           "agent", "message")
ACTIVE = ("firing", "flapping", "suppressed")
_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def now_local(config: Config, records: Iterable[AlertRecord], now_ns: int,
              tz: dt.tzinfo) -> list[dict[str, object]]:
    """This agent's alerts that are not ok, most urgent first."""
    words = Words(config.alerts.language, tz)
    rows: list[dict[str, object]] = []
    for r in records:
        if r.state not in ACTIVE:
            continue
        e = Event.from_json(r.detail)
        rows.append({
            "at": iso(r.changed_ns, tz), "state": r.state, "severity": r.severity,
            "rule": r.rule, "site": r.site, "subject": _subject(e.subject.name,
                                                                e.subject.interface,
                                                                e.subject.direction),
            "since": iso(r.since_ns, tz), "duration_s": round((now_ns - r.since_ns) / 1e9),
            "agent": e.agent, "notified": r.notified,
            "message": words.short(e), "reason": e.reason,
            "cut_off": [f"{name} ({site})" for site, name in e.cut_off]})
    return _ordered(rows)


def now_in_store(backend: Backend, sel: Selection, tz: dt.tzinfo,
                 now_ns: int) -> list[dict[str, object]]:
    """The newest `alert` point of every alert in the period, where it is not resolved."""
    rows = [_row(p, tz, now_ns) for p in backend.latest("alert", sel)
            if p.fields.get("state") in ACTIVE]
    return _ordered(rows)


def history(backend: Backend, sel: Selection, tz: dt.tzinfo) -> list[dict[str, object]]:
    """Every change of every alert in the period, oldest first."""
    return [_row(p, tz, None) for p in sorted(backend.points("alert", sel),
                                              key=lambda p: p.time_ns)]


def _row(p: Sample, tz: dt.tzinfo, now_ns: int | None) -> dict[str, object]:
    since = p.fields.get("since")
    since_ns = int(since) * 10**9 if isinstance(since, int | float) else None
    end = now_ns if now_ns is not None else p.time_ns
    name = next((p.tags[t] for t in NAME_TAG.values() if t in p.tags), p.tags.get("agent", ""))
    return {
        "at": iso(p.time_ns, tz), "state": p.fields.get("state"),
        "severity": p.tags.get("severity"), "rule": p.tags.get("rule"),
        "site": p.tags.get("site"),
        "subject": _subject(name, p.tags.get("interface"), p.tags.get("direction")),
        "since": iso(since_ns, tz),
        "duration_s": round((end - since_ns) / 1e9) if since_ns is not None else None,
        "agent": p.tags.get("agent"), "message": p.fields.get("message")}


def _subject(name: str, interface: str | None, direction: str | None) -> str:
    return " ".join(x for x in (name, interface, direction) if x)


def _ordered(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return sorted(rows, key=lambda r: (r["state"] == "suppressed",
                                       _SEVERITY_ORDER.get(str(r["severity"]), 3),
                                       str(r["since"]), str(r["subject"])))
