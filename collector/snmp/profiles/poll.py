"""One device's profiles at run time: which profiles it gets, and their values each cycle.

    poller = ProfilePoller(check)
    await poller.prepare(client)                 # first cycle: sysObjectID picks the profile
    scalars = (*ifmib_scalars, *poller.scalars)  # read in the cycle's first request
    samples += await poller.collect(client, found_scalars, wall_s=..., time_ns=...)

The profile is chosen once per probe (a config reload opens new probes): `profile: auto`
reads sysObjectID and takes the profile with the longest matching prefix, `profile: NAME`
takes that one, `profile: none` none. Scalars ride in the same request as sysUpTime and
ifTableLastChange. Table columns are walked on the first cycle and every `metadata_refresh`
(rows come and go: radio stations); in between their known rows are read with GET, which
asks for exactly the instances needed instead of GETBULK rows past a short table's end.
A GET that misses a known row makes the next cycle walk again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from linkwatch.collector.sample import Sample
from linkwatch.collector.snmp.check import SnmpCheck
from linkwatch.collector.snmp.client import DeviceClient, Value
from linkwatch.collector.snmp.oids import Oid
from linkwatch.collector.snmp.profiles.evaluate import Plan, evaluate, plan
from linkwatch.collector.snmp.profiles.loader import shipped_catalog
from linkwatch.collector.snmp.profiles.model import Profile

log = logging.getLogger(__name__)

SYS_OBJECT_ID: Oid = (1, 3, 6, 1, 2, 1, 1, 2, 0)


class ProfilePoller:
    def __init__(self, check: SnmpCheck) -> None:
        self._check = check
        self._profiles: tuple[Profile, ...] | None = None   # None: not chosen yet
        self._plan = Plan((), ())
        self._rows: dict[Oid, tuple[Oid, ...]] | None = None
        self._rows_at = 0.0

    @property
    def profiles(self) -> tuple[Profile, ...]:
        return self._profiles or ()

    @property
    def scalars(self) -> tuple[Oid, ...]:
        """The profiles' scalars without their trailing .0, for the cycle's first request."""
        return tuple(s[:-1] for s in self._plan.scalars)

    async def prepare(self, client: DeviceClient) -> None:
        """Choose the profiles, once: one GET of sysObjectID when `profile: auto`."""
        if self._profiles is not None:
            return
        catalog = self._check.profiles or shipped_catalog()
        object_id = None
        if self._check.profile == "auto":
            found = (await client.get([SYS_OBJECT_ID])).get(SYS_OBJECT_ID)
            object_id = found if isinstance(found, str) else None
        elif self._check.profile != "none" and catalog.named(self._check.profile) is None:
            # the config check refuses unknown names; a probe built by hand may still ask
            log.warning("snmp %s: no profile named %r", self._check.name, self._check.profile)
        self._profiles = catalog.choose(self._check.profile, object_id)
        self._plan = plan(self._profiles)
        if self._profiles:
            log.info("snmp %s: profile %s", self._check.name,
                     " + ".join(p.name for p in self._profiles))

    async def collect(self, client: DeviceClient, scalars: Mapping[Oid, Value], *,
                      wall_s: float, time_ns: int) -> list[Sample]:
        """This cycle's profile points; `scalars` is what the first request read (keys
        without the trailing .0)."""
        if not self._plan:
            return []
        columns = await self._columns(client, wall_s)
        instances = {(*s, 0): v for s, v in scalars.items() if (*s, 0) in self._plan.scalars}
        return evaluate(self.profiles, instances, columns, device=self._check.name,
                        time_ns=time_ns)

    async def _columns(self, client: DeviceClient, wall_s: float,
                       ) -> Mapping[Oid, Mapping[Oid, Value]]:
        columns = self._plan.columns
        if not columns:
            return {}
        refresh = float(self._check.metadata_refresh)
        if self._rows is None or wall_s - self._rows_at >= refresh:
            walk = await client.walk(columns)
            self._rows = {c: tuple(walk.columns.get(c, {})) for c in columns}
            self._rows_at = wall_s
            return walk.columns
        rows = self._rows
        got = await client.get([(*c, *i) for c in columns for i in rows[c]])
        found: dict[Oid, dict[Oid, Value]] = {c: {} for c in columns}
        for c in columns:
            for i in rows[c]:
                value = got.get((*c, *i))
                if value is None:
                    self._rows = None     # a row went away (or came): walk next cycle
                else:
                    found[c][i] = value
        return found
