"""Cross-key rules of `alerts:`, `notify:` and `maintenance:`: names that must exist, values
that must go together. Called by validation.validate with its report."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from linkwatch.agent.config.alerting import Channel, Override
from linkwatch.agent.config.schema import Config

if TYPE_CHECKING:
    from linkwatch.agent.config.validation import _Report

_PHONE = re.compile(r"^\+?[0-9][0-9 ]{2,19}$")
_WITH_THRESHOLD = ("link_saturated", "spool_full", "disk_low")


def check_alerting(config: Config, report: _Report) -> None:
    from linkwatch.agent.config.validation import _first_of_each, _suggest

    sites = {s.name for s in config.sites}
    checks = {c.name for checks in config.checks.written.values() for c in checks
              if hasattr(c, "name")}
    snmp = {c.name for c in config.checks.written.get("snmp", ())}

    def site_known(name: str, at: tuple, *, needs: tuple = (("sites",),)) -> None:
        if sites and name not in sites:
            report.add(at, f"site '{name}' is not among the sites", _suggest(name, sites),
                       needs=needs)

    def check_known(name: str, at: tuple, pool: set[str] = checks) -> None:
        if name not in pool:
            report.add(at, f"no check is named '{name}'", _suggest(name, pool),
                       needs=(("checks",),))

    for override in config.alerts.overrides:
        _check_override(override, report, site_known, check_known)
    for i, watched in enumerate(config.alerts.rules.uplink_down.interfaces):
        check_known(watched.device, ("alerts", "rules", "uplink_down", "interfaces", i,
                                     "device"), snmp)
    if config.alerts.watch and not config.outputs:
        report.add(("alerts", "watch"), "the watcher reads the central store, but no output "
                   "is configured", "add the district's InfluxDB under `outputs:`")
    name = config.alerts.watch_output
    if name is not None and not any(name in (o.name, o.queue_name, o.url)
                                    for o in config.outputs):
        report.add(("alerts", "watch_output"), f"no output is named '{name}'",
                   _suggest(name, [o.queue_name for o in config.outputs]))

    _first_of_each(config.notify.channels, lambda c: c.name, "channel", ("name",), report,
                   "channel names must be unique: they name the outbox of each")
    for channel in config.notify.channels:
        at = report.path(channel)
        for i, site in enumerate(channel.sites):
            site_known(site, (*at, "sites", i))
        _check_channel(channel, at, report)

    for window in config.maintenance:
        at = report.path(window)
        for i, site in enumerate(window.sites):
            site_known(site, (*at, "sites", i))
        for i, check in enumerate(window.checks):
            check_known(check, (*at, "checks", i))


def _check_override(override: Override, report: _Report, site_known, check_known) -> None:
    at = report.path(override)
    if override.site is None and override.check is None:
        report.add(at, "an override names a site or a check",
                   f"add `site:` or `check:`; to change {override.rule} everywhere, set it "
                   f"under alerts.rules.{override.rule}")
    if override.site is not None:
        site_known(override.site, (*at, "site"))
    if override.check is not None:
        check_known(override.check, (*at, "check"))
    if override.threshold_pct is not None and override.rule not in _WITH_THRESHOLD:
        report.add((*at, "threshold_pct"), f"rule {override.rule} has no threshold_pct",
                   "rules with one: " + ", ".join(_WITH_THRESHOLD))


def _check_channel(channel: Channel, at: tuple, report: _Report) -> None:
    for list_key in ("to", "chat_ids", "command"):
        if getattr(channel, list_key, None) == ():
            report.add((*at, list_key), f"{list_key} is empty: the {channel.kind} channel "
                       f"'{channel.name}' would reach no one", f"give at least one {list_key}")
    url = getattr(channel, "url", None)
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            report.add((*at, "url"), f"expected a URL like https://host/path, got '{url}'",
                       "write the scheme, host and (if not the default) port")
    if channel.kind == "sms":
        for i, number in enumerate(getattr(channel, "to", ())):
            if not _PHONE.match(number):
                report.add((*at, "to", i), f"'{number}' is not a phone number",
                           "write it in international format, e.g. +84912345678")
