"""Why an outage happened (docs/cli.md "Outage cause"): power, radio or link.

- *power* when it overlaps a power event (agent.query.power) at its site or at its parent;
- else *radio* when one of the site's radio links (agent.query.radio) was degraded in the
  15 minutes before it began;
- else *link*: neither power nor radio explains it, so it is the line itself.

Every piece of evidence found is kept, whatever the cause: a radio fade before a power cut
is listed under the power outage, never guessed away.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from linkwatch.agent.query.availability import Outage
from linkwatch.agent.query.bandwidth import WINDOW_S
from linkwatch.agent.query.power import SitePower
from linkwatch.agent.query.radio import CCQ, SIGNAL, RadioLink
from linkwatch.agent.query.timerange import iso
from linkwatch.agent.query.windows import Window

CAUSES = ("power", "radio", "link")
LOOKBACK_S = 15 * 60
_WINDOW_NS = WINDOW_S * 10**9


@dataclass(frozen=True)
class Evidence:
    """One thing that points to a cause: a UPS run, or a radio link degraded before."""

    cause: str            # "power" or "radio"
    kind: str             # power: "on_battery", "silent"; radio: "signal", "ccq"
    site: str
    device: str
    start_ns: int
    end_ns: int
    link: str = ""        # the radio link's row tags
    value: float | None = None    # radio: the lowest 5-minute mean (dBm or %)
    limit: float | None = None    # radio: the floor it was below

    def text(self, tz: dt.tzinfo | None = None) -> str:
        if self.kind == "signal":
            what = f"signal {self.value:.1f} dBm below {self.limit:g} dBm"
        elif self.kind == "ccq":
            what = f"CCQ {self.value:.0f} % below {self.limit:g} %"
        else:
            what = ("on battery" if self.kind == "on_battery"
                    else "silent with the site after running on battery")
        where = f" {self.link}" if self.link else ""
        return (f"{self.cause}: {self.device}{where} {what} from {iso(self.start_ns, tz)} "
                f"to {iso(self.end_ns, tz)} ({self.site})")


@dataclass(frozen=True)
class Cause:
    cause: str
    evidence: tuple[Evidence, ...] = ()


def outage_end_ns(o: Outage) -> int:
    return o.end_ns if o.end_ns is not None else o.start_ns + round(o.duration_s * 1e9)


def attribute(outage: Outage, *, parents: Mapping[str, str | None],
              power: Mapping[str, SitePower], radio: Sequence[RadioLink]) -> Cause:
    start, end = outage.start_ns, outage_end_ns(outage)
    evidence: list[Evidence] = []
    for site in dict.fromkeys((outage.site, parents.get(outage.site))):
        if site is None or site not in power:
            continue
        # a power event is the runs that touch (on battery, then silent): all are evidence
        for a, b in power[site].events:
            if a >= end or b <= start:
                continue
            for run in power[site].runs:
                if run.start_ns < b and run.end_ns > a:
                    evidence.append(Evidence("power", run.kind, site, run.device,
                                             run.start_ns, run.end_ns))
    for link in radio:
        if link.site != outage.site:
            continue
        before = [w for w in link.degraded_windows
                  if w.start_ns < start and w.start_ns + _WINDOW_NS > start - LOOKBACK_S * 10**9]
        if before:
            kind, value, limit = _fade(link, before)
            evidence.append(Evidence("radio", kind, link.site, link.device, before[0].start_ns,
                                     before[-1].start_ns + _WINDOW_NS, link.link, value,
                                     limit))
    found = {e.cause for e in evidence}
    cause = next((c for c in CAUSES if c in found), "link")
    return Cause(cause, tuple(evidence))


def _fade(link: RadioLink, windows: Sequence[Window]) -> tuple[str, float, float]:
    """What was degraded: the signal below the floor (its lowest mean), else the CCQ."""
    signals = [w.mean[SIGNAL] for w in windows if SIGNAL in w.mean]
    if signals and min(signals) < link.floor_dbm:
        return "signal", min(signals), link.floor_dbm
    return "ccq", min(w.mean[CCQ] for w in windows if CCQ in w.mean), link.min_ccq_pct
