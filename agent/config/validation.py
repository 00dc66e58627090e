"""Rules that look across keys: limits, names, site references, outputs.

They run on the built dataclasses, after the builder has reported every value it could not
read, and stay quiet about anything that depends on such a value (a check's `site:` is not
called unknown when one of the sites could not be read).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import zoneinfo
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from linkwatch.agent.config.errors import KeyPath, Problem, dotted
from linkwatch.agent.config.schema import Config, Site, VictoriaOutput, shown_url
from linkwatch.agent.config.units import written
from linkwatch.collector.keys import declared, key_name
from linkwatch.collector.units import BitsPerSecond, Bytes, Seconds


def validate(config: Config, *, source: Path, marks: dict[KeyPath, tuple[int, int]],
             failed: set[KeyPath], where: dict[int, KeyPath]) -> list[Problem]:
    """Every cross-key problem of `config`; `marks`, `failed`, `where` come from the Builder."""
    report = _Report(source, marks, failed, where)
    for obj, at in _dataclasses(config, report):
        _check_limits(obj, at, report)
    for check, at in _checks(config, report):
        _check_schedule(check, at, report)
    _check_sites(config, report)
    _check_site_references(config, report)
    _check_check_names(config, report)
    _check_outputs(config, report)
    _check_timezone(config, report)
    _check_trusted(config, report)
    from linkwatch.agent.config.alerting_validation import check_alerting

    check_alerting(config, report)
    return report.problems


@dataclass
class _Report:
    source: Path
    marks: dict[KeyPath, tuple[int, int]]
    failed: set[KeyPath]
    where: dict[int, KeyPath]
    problems: list[Problem] = field(default_factory=list)

    def add(self, at: KeyPath, message: str, hint: str | None = None, *,
            needs: tuple[KeyPath, ...] = ()) -> None:
        """Record a problem at `at`, unless a value in `needs` could not be read."""
        if any(self._touches_failed(p) for p in needs):
            return
        line, column = self.line_of(at) or (None, None)
        self.problems.append(Problem(self.source, message, line, column, dotted(at), hint))

    def line_of(self, at: KeyPath) -> tuple[int, int] | None:
        """Where `at` was written, or where its nearest written parent was (for defaults)."""
        for n in range(len(at), 0, -1):
            if at[:n] in self.marks:
                return self.marks[at[:n]]
        return None

    def path(self, obj: Any) -> KeyPath:
        return self.where[id(obj)]

    def _touches_failed(self, at: KeyPath) -> bool:
        return any(f[:len(at)] == at or at[:len(f)] == f for f in self.failed)


def _dataclasses(obj: Any, report: _Report) -> Iterator[tuple[Any, KeyPath]]:
    """Every dataclass instance in the config, with the key path it was written at."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        if id(obj) in report.where:
            yield obj, report.path(obj)
        for f in dataclasses.fields(obj):
            if not f.metadata.get("internal"):
                yield from _dataclasses(getattr(obj, f.name), report)
    elif isinstance(obj, tuple):
        for item in obj:
            yield from _dataclasses(item, report)
    elif isinstance(obj, Mapping):
        for item in obj.values():
            yield from _dataclasses(item, report)


def _check_limits(obj: Any, at: KeyPath, report: _Report) -> None:
    """The limits each field declares with collector.keys.key(low=, high=, positive=)."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        wrong = _outside_limits(f.metadata, value)
        if wrong:
            report.add((*at, key_name(f)), f"{key_name(f)} {wrong}, got {show(value)}")


def _outside_limits(metadata: Mapping[str, Any], value: float) -> str | None:
    """What is wrong with `value` by a field's declared limits, or None."""
    low, high = metadata.get("low"), metadata.get("high")
    if metadata.get("positive") and not value > 0:
        return "must be more than zero"
    if low is not None and high is not None and not low <= value <= high:
        return f"must be from {written(type(value), low)} to {written(type(value), high)}"
    if low is not None and value < low:
        return f"must be at least {written(type(value), low)}"
    if high is not None and value > high:
        return f"must be at most {written(type(value), high)}"
    return None


def _check_schedule(check: Any, at: KeyPath, report: _Report) -> None:
    """What the scheduler needs of every check, whatever its kind: an interval and a timeout
    more than zero, and a cycle that ends before the next starts. Built-in checks declare
    the first two on their fields; a check of another package's kind may not have, and the
    scheduler reads these two keys of every check (agent/config/resolve.py)."""
    fields = {f.name: f for f in dataclasses.fields(check)}
    for name in ("interval", "timeout"):
        value = getattr(check, name, None)
        if name in fields and not declared(fields[name].metadata) and value is not None \
                and not value > 0:
            report.add((*at, name), f"{name} must be more than zero, got {show(value)}")
    interval, timeout = getattr(check, "interval", None), getattr(check, "timeout", None)
    if interval and timeout and timeout > interval:
        report.add((*at, "timeout"),
                   f"timeout {show(timeout)} is longer than the interval {show(interval)}",
                   "a cycle must end before the next one starts: lower timeout or raise interval",
                   needs=((*at, "interval"),))


def _check_sites(config: Config, report: _Report) -> None:
    names = _first_of_each(config.sites, lambda s: s.name, "site", ("name",), report)
    for site in config.sites:
        if site.parent is not None and site.parent not in names:
            report.add((*report.path(site), "parent"), f"unknown parent site '{site.parent}'",
                       _suggest(site.parent, names), needs=(("sites",),))
    reported: set[str] = set()
    for site in config.sites:
        chain = _parent_chain(site, names)
        if chain and not reported & set(chain):
            reported.update(chain)
            report.add((*report.path(site), "parent"),
                       "sites are each other's parents: " + " → ".join([*chain, chain[0]]),
                       "the site at the top of the chain must have no parent")


def _parent_chain(site: Site, names: dict[str, Site]) -> list[str]:
    """The sites of the cycle `site` starts, if its parents lead back to it."""
    chain, current = [site.name], site
    while current.parent in names and current.parent not in chain:
        current = names[current.parent]
        chain.append(current.name)
    return chain if current.parent == site.name else []


def _check_site_references(config: Config, report: _Report) -> None:
    if not config.sites:
        return                        # without declared sites, any site name will do
    names = {s.name for s in config.sites}
    needs = (("sites",),)
    if config.agent.site not in names:
        report.add(("agent", "site"), f"site '{config.agent.site}' is not among the sites",
                   _suggest(config.agent.site, names), needs=needs)
    for check, at in _checks(config, report):
        site = getattr(check, "site", None)
        if site is not None and site not in names:
            report.add((*at, "site"), f"site '{site}' is not among the sites",
                       _suggest(site, names), needs=needs)


def _check_check_names(config: Config, report: _Report) -> None:
    for kind, checks in config.checks.written.items():
        _first_of_each(checks, lambda c: c.name, f"{kind} check", ("name",), report)
        for check in checks:
            _check_written_name(check.name, (*report.path(check), "name"), report)
    for site in config.sites:
        _check_written_name(site.name, (*report.path(site), "name"), report)
    _check_written_name(config.agent.name, ("agent", "name"), report)
    _check_written_name(config.agent.site, ("agent", "site"), report)


def _check_written_name(name: str, at: KeyPath, report: _Report) -> None:
    """A name that becomes a tag must survive line protocol: an empty one (or one of only
    spaces and backslashes) is left out of the point, which merges its series with others."""
    if not name.replace("\\", "").strip():
        report.add(at, f"the name {name!r} is empty: it is the tag that tells this one's "
                   "points apart, and an empty tag is left out (its series would merge "
                   "with others')", "give it a name, e.g. core-switch")


def _check_outputs(config: Config, report: _Report) -> None:
    _first_of_each(config.outputs, lambda o: o.queue_name, "output", ("name",), report,
                   "give each output its own `name:` (e.g. name: province); it names the "
                   "output's send queue. Without one an output is named "
                   "influxdb:<bucket or database>, victoriametrics or "
                   "victoriametrics:<tenant>")
    for output in config.outputs:
        at = report.path(output)
        if isinstance(output, VictoriaOutput):
            _check_victoria(output, at, report)
            continue
        _check_url(output.url, (*at, "url"), "http://127.0.0.1:8086", report,
                   "give them as `username:` and `password_file:` (v1) or `token_file:`")
        if output.version == "2":
            missing = [k for k in ("bucket", "org", "token")
                       if getattr(output, k) is None and (*at, k) not in report.failed]
            if missing:
                report.add(at, "a version 2 output needs " + ", ".join(missing),
                           "add them, or set version: 1 for the v1 /write API "
                           "(token: ${LINKWATCH_INFLUX_TOKEN} or token_file: /path)")


def _check_trusted(config: Config, report: _Report) -> None:
    if not config.sites:
        return                        # without declared sites, any site name will do
    names = {s.name for s in config.sites}
    for agent in config.carry.trusted:
        at = report.path(agent)
        for i, site in enumerate(agent.sites):
            if site not in names:
                report.add((*at, "sites", i), f"site '{site}' is not among the sites",
                           _suggest(site, names), needs=(("sites",),))


def _check_url(value: str, at: KeyPath, example: str, report: _Report,
               credentials_hint: str) -> None:
    url = urlsplit(value)
    if "@" in url.netloc:
        report.add(at, f"the url holds a user name or password ('{shown_url(value)}'): it "
                   "would show in errors and reports", credentials_hint)
    elif url.scheme not in ("http", "https") or not url.hostname:
        report.add(at, f"expected a URL like {example}, got '{shown_url(value)}'",
                   "write the scheme, host and port")


_TENANT = re.compile(r"^\d+(:\d+)?$")


def _check_victoria(output: VictoriaOutput, at: KeyPath, report: _Report) -> None:
    """A single node (`url`) or a cluster (`insert_url` and `select_url`), not both."""
    cluster = [k for k in ("insert_url", "select_url") if getattr(output, k) is not None]
    if output.url is not None and cluster:
        report.add((*at, cluster[0]), "a victoriametrics output is a single node (url) or a "
                   "cluster (insert_url, select_url), not both",
                   "keep `url:` for a single node, or the two cluster urls")
    elif output.url is None and len(cluster) < 2:
        missing = " and ".join(k for k in ("insert_url", "select_url") if k not in cluster)
        report.add(at, f"a victoriametrics output needs `url:` (single node) or "
                   f"`insert_url:` and `select_url:` (cluster); {missing} missing",
                   "single node: url: http://127.0.0.1:8428; cluster: insert_url: "
                   "http://vminsert:8480, select_url: http://vmselect:8481",
                   needs=tuple((*at, k) for k in ("url", "insert_url", "select_url")))
    for name, example in (("url", "http://127.0.0.1:8428"),
                          ("insert_url", "http://vminsert:8480"),
                          ("select_url", "http://vmselect:8481")):
        value = getattr(output, name)
        if value is not None:
            _check_url(value, (*at, name), example, report,
                       "give them as `username:` and `password_file:`, or `token_file:`")
    if not _TENANT.match(output.tenant):
        report.add((*at, "tenant"), f"tenant must be accountID or accountID:projectID "
                   f"(numbers), got '{output.tenant}'", "e.g. tenant: \"0\" or \"42:1\"")
    elif output.url is not None and output.tenant != "0":
        report.add((*at, "tenant"), "tenant applies to a cluster only",
                   "remove `tenant:`, or give insert_url and select_url instead of url")


def _check_timezone(config: Config, report: _Report) -> None:
    name = config.agent.timezone
    if name is None:
        return
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(name, zoneinfo.available_timezones(), n=1)
        report.add(("agent", "timezone"), f"unknown time zone '{name}'",
                   (f"did you mean '{close[0]}'? " if close else "")
                   + "IANA names look like Asia/Ho_Chi_Minh")


def _checks(config: Config, report: _Report) -> Iterator[tuple[Any, KeyPath]]:
    for checks in config.checks.written.values():
        for check in checks:
            yield check, report.path(check)


def _first_of_each(items: tuple[Any, ...], name_of: Callable[[Any], str], what: str,
                   keys: tuple[str, ...], report: _Report,
                   hint: str = "names must be unique: they are the tags that tell series apart",
                   ) -> dict[str, Any]:
    """Items by name; the second of a name is reported where it was written."""
    first: dict[str, Any] = {}
    for item in items:
        name = name_of(item)
        if name in first:
            line = (report.line_of(report.path(first[name])) or (0,))[0]
            at = report.path(item)
            written = [(*at, k) for k in keys if (*at, k) in report.marks]
            report.add(written[0] if written else (*at, keys[0]),
                       f"another {what} is already named '{name}' (line {line})",
                       hint)
        else:
            first[name] = item
    return first


def _suggest(word: str, choices: Any) -> str | None:
    choices = sorted(choices)
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return "known: " + ", ".join(choices) if 0 < len(choices) <= 12 else None


def show(value: Any) -> str:
    """A value written the way the config writes it."""
    if isinstance(value, Seconds):
        return f"{value:g}s"
    if isinstance(value, Bytes):
        return f"{int(value)}B"
    if isinstance(value, BitsPerSecond):
        return f"{value:g}bps"
    return str(value)
