"""What an alert is about (`Subject`) and what one change of it says (`Event`): the event
data every channel, the `alert` measurement and the webhook body carry (docs/alerts.md)."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from linkwatch.collector.sample import Sample

# The tag a subject's name takes in the `alert` measurement, by its kind.
NAME_TAG = {"ping": "target", "snmp": "device", "uplink": "device", "agent": "watched_agent"}


@dataclass(frozen=True)
class Subject:
    """One thing a rule watches: a ping target, an SNMP device, one direction of an
    uplink, another agent (watcher), or this agent itself (kind "self")."""

    rule: str
    kind: str                       # ping, snmp, uplink, agent, self
    name: str                       # target, device or agent name
    site: str
    interface: str | None = None    # uplink: the interface as configured
    direction: str | None = None    # link_saturated: in or out

    @functools.cached_property
    def key(self) -> str:
        """Unique per alert: `target_down|ping|minh-chau-router||`."""
        return "|".join((self.rule, self.kind, self.name, self.interface or "",
                         self.direction or ""))

    @property
    def check(self) -> str | None:
        """The check it belongs to (maintenance and overrides name checks)."""
        return self.name if self.kind in ("ping", "snmp", "uplink") else None

    def tags(self) -> dict[str, str]:
        tags = {}
        if self.kind in NAME_TAG:
            tags[NAME_TAG[self.kind]] = self.name
        if self.interface:
            tags["interface"] = self.interface
        if self.direction:
            tags["direction"] = self.direction
        return tags


@dataclass(frozen=True)
class Event:
    """One change of one alert, as decided by `agent`."""

    rule: str
    severity: str
    state: str                      # firing, resolved, suppressed, flapping
    subject: Subject
    agent: str
    since_ns: int                   # when the condition began (the first failed cycle)
    at_ns: int                      # when this change was decided
    value: float | None = None      # what was measured: %, ms or s (see unit)
    limit: float | None = None      # the limit it was held to
    unit: str | None = None
    cut_off: tuple[tuple[str, str], ...] = ()    # (site, target) cut off behind it
    reason: str | None = None       # suppressed: "parent <site>", "maintenance <window>",
                                    # "merged <alert key>"
    changes: int | None = None      # flapping: state changes within the window
    site_down: tuple[str, ...] = field(default=())   # agent_silent: its site's targets
                                                     # seen DOWN in the central store

    @property
    def key(self) -> str:
        return self.subject.key

    @property
    def duration_s(self) -> float:
        return max(0.0, (self.at_ns - self.since_ns) / 1e9)

    def dedupe_key(self) -> str:
        """The same change always has the same key: receivers may drop a second copy."""
        text = "|".join((self.agent, self.key, self.state, str(self.since_ns),
                         str(self.at_ns)))
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def data(self) -> dict[str, Any]:
        """The event data, as documented in docs/alerts.md ("Event data")."""
        s = self.subject
        return {
            "key": self.key, "rule": self.rule, "severity": self.severity,
            "state": self.state, "agent": self.agent, "site": s.site, "kind": s.kind,
            "name": s.name, "interface": s.interface, "direction": s.direction,
            "since": iso_utc(self.since_ns), "since_s": self.since_ns // 10**9,
            "at": iso_utc(self.at_ns), "at_s": self.at_ns // 10**9,
            "duration_s": round(self.duration_s, 1), "value": self.value,
            "limit": self.limit, "unit": self.unit,
            "cut_off": [{"site": site, "name": name} for site, name in self.cut_off],
            "reason": self.reason, "changes": self.changes,
            "site_down": list(self.site_down),
        }

    def to_json(self) -> str:
        return json.dumps(self.data() | {"since_ns": self.since_ns, "at_ns": self.at_ns},
                          ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Event:
        return cls.from_data(json.loads(text))

    @classmethod
    def from_data(cls, d: Mapping[str, Any]) -> Event:
        """The event of `to_json`'s data (as the spool holds it)."""
        return cls(
            rule=d["rule"], severity=d["severity"], state=d["state"],
            subject=Subject(d["rule"], d["kind"], d["name"], d["site"], d.get("interface"),
                            d.get("direction")),
            agent=d["agent"], since_ns=d["since_ns"], at_ns=d["at_ns"], value=d.get("value"),
            limit=d.get("limit"), unit=d.get("unit"),
            cut_off=tuple((c["site"], c["name"]) for c in d.get("cut_off", ())),
            reason=d.get("reason"), changes=d.get("changes"),
            site_down=tuple(d.get("site_down", ())))

    def point(self, message: str) -> Sample:
        """The `alert` point of this change (docs/data-model.md)."""
        tags = {"agent": self.agent, "site": self.subject.site, "rule": self.rule,
                "severity": self.severity, **self.subject.tags()}
        fields: dict[str, int | float | str] = {
            "state": self.state, "active": int(self.state in ("firing", "flapping")),
            "since": self.since_ns // 10**9, "message": message,
            "cut_off": len(self.cut_off)}
        if self.value is not None:
            fields["value"] = float(self.value)
        return Sample("alert", tags, fields, self.at_ns)


def iso_utc(time_ns: int) -> str:
    """`2026-12-05T03:02:00Z`."""
    moment = dt.datetime.fromtimestamp(time_ns // 10**9, dt.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
