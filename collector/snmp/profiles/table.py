"""A profile's metrics as its documented table: one row per tag and field, with type, unit,
meaning, when it is absent and the OID it comes from.

The same rows feed docs/profiles.md (held to the files by tests/unit/test_profiles.py) and
any reader that wants a probe's metrics as data (`metric_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass

from linkwatch.collector.snmp.oids import Oid
from linkwatch.collector.snmp.profiles.model import Catalog, Group, Metric, Profile

DEVICE_TAG = "the snmp check's `name`"


@dataclass(frozen=True)
class MetricRow:
    measurement: str
    kind: str            # "tag" or "field"
    name: str
    type: str            # "int", "float", "string" ("" for a tag)
    unit: str
    description: str
    absent: str
    oid: str

    def markdown(self) -> str:
        cells = (self.measurement, self.kind, self.name, self.type, self.unit,
                 self.description, self.absent, self.oid)
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


HEADER = ("| measurement | kind | name | type | unit | meaning | absent when | OID |\n"
          "|---|---|---|---|---|---|---|---|")


def _oid(oid: Oid | None) -> str:
    return "" if oid is None else "." + ".".join(map(str, oid))


def _meaning(m: Metric) -> str:
    text = m.description
    if m.states:
        text += " (" + ", ".join(f"{k} {v}" for k, v in sorted(m.states.items())) + ")"
    if m.true_when:
        text += " (1 when the value is " + " or ".join(map(str, m.true_when)) + ")"
    if m.scale != 1:
        text += f"; × {m.scale:g}"
    return text


def _group_rows(group: Group) -> list[MetricRow]:
    rows = [MetricRow(group.measurement, "tag", "device", "", "", DEVICE_TAG, "never", "")]
    for part in group.index:
        if part.tag:
            rows.append(MetricRow(group.measurement, "tag", part.tag, "", "",
                                  f"row index of {group.table or 'the table'} ({part.type})",
                                  "never", ""))
    for tag in group.tags:
        rows.append(MetricRow(group.measurement, "tag", tag.tag, "", "", tag.description,
                              "never" if tag.value is not None else "the device leaves it "
                              "empty", _oid(tag.oid)))
    for m in group.metrics:
        rows.append(MetricRow(group.measurement, "field", m.field, m.type, m.unit,
                              _meaning(m), m.absent, _oid(m.oid)))
    return rows


def metric_rows(profile: Profile) -> list[MetricRow]:
    """Every tag and field the profile writes, the `device` tag once per measurement."""
    rows: list[MetricRow] = []
    for group in profile.groups:
        for row in _group_rows(group):
            if row not in rows:
                rows.append(row)
    return rows


def markdown(catalog: Catalog) -> str:
    """The shipped profiles' section of docs/profiles.md, generated."""
    out = []
    for profile in catalog.profiles:
        prefixes = ", ".join(f"`{_oid(p)}`" for p in profile.sysobjectid) or "none (by name)"
        out += [f"### {profile.name}", "",
                f"{profile.title}. Reads {profile.mib}. Selected by sysObjectID {prefixes}"
                + (f"; includes {', '.join(f'`{i}`' for i in profile.include)}."
                   if profile.include else "."), "", HEADER,
                *(r.markdown() for r in metric_rows(profile)), ""]
    return "\n".join(out)
