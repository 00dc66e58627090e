"""What linkwatch writes: each measurement's tags, and its fields with their types.

`measurements()` is the one place a reader of points from outside (`spool import`) checks a
point against. Until each probe declares its fields as data beside its code, the table below
is the one in docs/data-model.md (tests/unit/test_datamodel.py holds the two together); then
`measurements()` reads the probes' own tables instead, and nothing else changes. The
measurements of device profiles (radio, power, sensor) are read from the profiles
themselves, which declare every field with its type and every row tag.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

from linkwatch.collector.sample import FieldValue, Sample
from linkwatch.collector.snmp.profiles import Catalog

COMMON_TAGS = frozenset({"agent", "site"})     # on every point


@dataclass(frozen=True)
class Measurement:
    """One measurement: its tags (besides agent and site), and its fields' types.

    `declared` holds the types a field named by the config may have (the user-declared
    OIDs of `snmp`): any name that is an identifier, with a value of one of these types.
    """

    name: str
    tags: frozenset[str]
    fields: Mapping[str, type]
    declared: tuple[type, ...] = field(default=())

    def problem(self, sample: Sample) -> str | None:
        """What makes `sample` something this measurement never holds, or None."""
        extra = sorted(set(sample.tags) - self.tags - COMMON_TAGS)
        if extra:
            return f"tag {extra[0]!r} is not a tag of {self.name}"
        for name, value in sample.fields.items():
            wrong = self._field_problem(name, value)
            if wrong:
                return wrong
        return None

    def _field_problem(self, name: str, value: FieldValue) -> str | None:
        expected = self.fields.get(name)
        if expected is not None:
            if type(value) is not expected:
                return (f"field {name!r} of {self.name} is {_TYPE_NAMES[expected]}, "
                        f"not {_TYPE_NAMES.get(type(value), type(value).__name__)}")
            return None
        if self.declared and name.isidentifier():
            if type(value) not in self.declared:
                return f"field {name!r} of {self.name} has a {type(value).__name__} value"
            return None
        return f"{self.name} has no field {name!r}"


_TYPE_NAMES = {int: "an integer", float: "a float", str: "a string", bool: "a boolean"}

_DOCUMENTED: dict[str, tuple[tuple[str, ...], dict[str, type], tuple[type, ...]]] = {
    # measurement: (tags, {field: type}, types of config-declared fields)
    "ping": (("target", "address"), {
        "sent": int, "received": int, "loss_pct": float, "rtt_min_ms": float,
        "rtt_avg_ms": float, "rtt_max_ms": float, "rtt_mdev_ms": float, "jitter_ms": float,
        "up": int}, ()),
    "interface": (("device", "if_index", "if_name", "if_alias"), {
        "in_octets": int, "out_octets": int, "in_bps": float, "out_bps": float,
        "in_util_pct": float, "out_util_pct": float, "speed_bps": float,
        "oper_status": int, "admin_status": int, "in_errors": int, "out_errors": int,
        "in_discards": int, "out_discards": int}, ()),
    "device": (("device", "address"), {
        "up": int, "sys_uptime_s": float, "poll_ms": float, "counter_reset": int}, ()),
    "snmp": (("device", "index"), {}, (int, float, str)),
    "host": ((), {
        "cpu_pct": float, "mem_used_pct": float, "disk_used_pct": float, "load1": float,
        "uptime_s": float}, ()),
    "host_net": (("nic",), {
        "rx_bytes": int, "tx_bytes": int, "rx_bps": float, "tx_bps": float}, ()),
    "linkwatch": ((), {
        "spool_rows": int, "spool_bytes": int, "collected": int, "sent": int, "dropped": int,
        "send_errors": int, "poll_overruns": int, "last_send_ok": int}, ()),
    "path": (("target", "address"), {
        "reached": int, "hop_count": int, "hops": str, "last_hop": int,
        "last_hop_address": str, "trigger": str}, ()),
    # device profiles add their own row tags and fields (measurements() reads them)
    "radio": (("device",), {
        "signal_dbm": float, "noise_dbm": float, "ccq_pct": float, "tx_rate_bps": float,
        "rx_rate_bps": float}, ()),
    "power": (("device",), {
        "on_battery": int, "charge_pct": float, "minutes_left": float}, ()),
    "sensor": (("device",), {"temperature_c": float}, ()),
}


_PROFILE_TYPES = {"int": int, "float": float, "string": str}


def measurements(catalog: Catalog | None = None) -> Mapping[str, Measurement]:
    """Every measurement linkwatch writes, by name; those of device profiles as `catalog`
    declares them (default: the shipped profiles)."""
    tags = {name: set(t) for name, (t, _, _) in _DOCUMENTED.items()}
    fields = {name: dict(f) for name, (_, f, _) in _DOCUMENTED.items()}
    for profile in (catalog if catalog is not None else _shipped()).profiles:
        for group in profile.groups:
            tags.setdefault(group.measurement, {"device"}).update(group.tag_names)
            fields.setdefault(group.measurement, {}).update(
                (m.field, _PROFILE_TYPES[m.type]) for m in group.metrics)
    return {name: Measurement(name, frozenset(tags[name]), fields[name],
                              _DOCUMENTED.get(name, ((), {}, ()))[2]) for name in fields}


@functools.cache
def _shipped() -> Catalog:
    from linkwatch.collector.snmp.profiles import shipped_catalog

    return shipped_catalog()
