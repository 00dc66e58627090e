"""Numbers for people: a table on a terminal shows `29d 11h 54m`, `11.7 Mbit/s`, `99.52%`.

JSON and CSV keep the raw values in the units their keys name (docs/cli.md): a key ending in
`_s` is seconds, `_bps` bit/s, `_pct` percent, `_ms` milliseconds, `_pps` points per second.
The same suffix tells a table how to show the value, and is left out of its heading (the
value carries its unit):

    heading("downtime_s") == "DOWNTIME"      cell("downtime_s", 605040.0) == "7d 0h 4m"
    heading("mean_bps") == "MEAN"            cell("mean_bps", 11663517.5) == "11.7 Mbit/s"
"""

from __future__ import annotations

from collections.abc import Callable

_RATE_PREFIXES = ((1e12, "Tbit/s"), (1e9, "Gbit/s"), (1e6, "Mbit/s"), (1e3, "kbit/s"))


def duration(seconds: float) -> str:
    """`29d 11h 54m`, `3h 5m`, `4m 10s`, `42s`, `0.8s`: the two largest units that matter."""
    if seconds < 0:
        return "-" + duration(-seconds)
    if seconds < 10:
        return f"{seconds:.1f}s".replace(".0s", "s")
    s = round(seconds)
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def rate(bps: float) -> str:
    """Decimal prefixes, as carriers count (1 Mbit/s = 10^6 bit/s), three significant
    digits: `11.7 Mbit/s`, `100 Mbit/s`, `950 bit/s`."""
    for size, unit in _RATE_PREFIXES:
        if abs(bps) >= size:
            return f"{_significant(bps / size)} {unit}"
    return f"{_significant(bps)} bit/s"


def _significant(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value else "0"


def _percent(value: float) -> str:
    return f"{value:.2f}%"


def _milliseconds(value: float) -> str:
    return f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"


def _per_second(value: float) -> str:
    return f"{value:,.0f}/s"


# suffix of a key → how its value reads in a table
_BY_SUFFIX: tuple[tuple[str, Callable[[float], str]], ...] = (
    ("_bps", rate),
    ("_pps", _per_second),
    ("_pct", _percent),
    ("_ms", _milliseconds),
    ("_s", duration),
)


def heading(column: str) -> str:
    """A table's heading for a key: upper case, without the unit the cells now carry."""
    for suffix, _ in _BY_SUFFIX:
        if column.endswith(suffix) and len(column) > len(suffix):
            return column[: -len(suffix)].upper()
    return column.upper()


def cell(column: str, value: object) -> str:
    """A value as a table shows it: with its unit, yes/no for a flag, `-` when unknown."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        for suffix, show in _BY_SUFFIX:
            if column.endswith(suffix):
                return show(float(value))
        return f"{value:.2f}" if isinstance(value, float) else str(value)
    return str(value)


def csv_cell(value: object) -> str:
    """A value as CSV holds it: raw, in the key's unit; empty when unknown; true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
