"""Each rule as it applies to one subject (defaults ← site override ← check override), and
which channels hear of an event (their routing)."""

from __future__ import annotations

from dataclasses import dataclass

from linkwatch.agent.alerts.event import Event
from linkwatch.agent.config.alerting import AlertSettings, Channel, Override

STATE_RULES = ("target_down", "device_down", "uplink_down")   # the outage state machine


@dataclass(frozen=True, slots=True)
class Settings:
    """One rule for one subject."""

    enabled: bool
    severity: str
    for_s: float
    threshold_pct: float | None = None


def settings(alerts: AlertSettings, rule: str, site: str, check: str | None) -> Settings:
    """The rule's settings for `check` at `site`: its defaults, then the overrides naming the
    site, then those naming the check (the most specific wins)."""
    base = alerts.rules.named(rule)
    enabled, severity, for_s = base.enabled, str(base.severity), float(base.for_)
    threshold: float | None = getattr(base, "threshold_pct", None)
    applying = [o for o in alerts.overrides if o.rule == rule and _applies(o, site, check)]
    applying.sort(key=lambda o: o.check is not None)        # site ones first
    for o in applying:
        enabled = enabled if o.enabled is None else o.enabled
        severity = severity if o.severity is None else o.severity
        for_s = for_s if o.for_ is None else float(o.for_)
        threshold = threshold if o.threshold_pct is None else o.threshold_pct
    return Settings(enabled, severity, for_s, threshold)


def _applies(o: Override, site: str, check: str | None) -> bool:
    if o.check is not None and o.check != check:
        return False
    return o.site is None or o.site == site


def routes(channel: Channel, event: Event) -> bool:
    """Whether `channel` hears of `event` (its severities, sites and rules; resolved
    messages only where `resolved` is on; suppressed changes never)."""
    if event.state == "suppressed":
        return False
    if event.state == "resolved" and not channel.resolved:
        return False
    return ((not channel.severities or event.severity in channel.severities)
            and (not channel.sites or event.subject.site in channel.sites)
            and (not channel.rules or event.rule in channel.rules))
