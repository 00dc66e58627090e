"""The one way to the data: every reader (the CLI's verbs, the report, alerts) asks a
`Backend`, and `open_backend` holds the single rule for which one.

    backend = open_backend(config, local=False, output=None)   # the first output's store
    try:
        rows = answers.uptime(config, backend, selection)
    finally:
        backend.close()

A backend answers with the reduced forms the definitions start from (UpSeries, Latency,
Traffic, UplinkUsage, WindowSeries, samples), never with rows for people: agent.query.answers
and the report turn those into figures, the same way for every store. Three stores:
InfluxDB (agent.query.influx), victoria-metrics (agent.query.victoria) and the agent's own
history (agent.query.local).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from linkwatch.agent.config.schema import Config, VictoriaOutput
from linkwatch.agent.query.bandwidth import Traffic
from linkwatch.agent.query.errors import QueryFailed
from linkwatch.agent.query.latency import Latency
from linkwatch.agent.query.selection import Selection
from linkwatch.agent.query.states import UpSeries
from linkwatch.agent.query.uplinks import UplinkQuery, UplinkUsage
from linkwatch.agent.query.windows import WindowSeries
from linkwatch.collector.sample import Sample

# progress(what, done, total): how far a long read has come
Progress = Callable[[str, int, int], None]


class Backend(Protocol):
    @property
    def description(self) -> str:
        """Where the answers come from, for messages: "InfluxDB at http://…"."""
        ...

    @property
    def source(self) -> tuple[str, str]:
        """(kind, place) for the report to name in its language: ("local", path)."""
        ...

    def up_series(self, sel: Selection, *, measurement: str, tag: str,
                  intervals: Mapping[str, float], field: str = "up") -> list[UpSeries]:
        """Per (site, value of `tag`): the transitions of the 0/1 field `field` (`up`; or
        a UPS's `on_battery`)."""
        ...

    def latency(self, sel: Selection) -> list[Latency]: ...

    def traffic(self, sel: Selection, *, min_samples_of: Mapping[str, int],
                default_min: int) -> list[Traffic]: ...

    def latest(self, measurement: str, sel: Selection) -> list[Sample]: ...

    def points(self, measurement: str, sel: Selection) -> list[Sample]: ...

    def windows(self, measurement: str, fields: Sequence[str], sel: Selection, *,
                window_s: int) -> list[WindowSeries]:
        """Per series and window: count, mean, lowest and highest of each field."""
        ...

    def uplink_usage(self, sel: Selection, uplinks: Sequence[UplinkQuery],
                     above_pct: float) -> dict[tuple[str, str], UplinkUsage]:
        """Per (device, interface) of each uplink: hourly rates and windows above."""
        ...

    def loss_while_up(self, sel: Selection) -> dict[tuple[str, str], float]:
        """Per (site, target): loss counted over the cycles that were up."""
        ...

    def close(self) -> None: ...


def open_backend(config: Config, *, local: bool, output: str | None = None,
                 progress: Progress | None = None) -> Backend:
    """The store to ask: the agent's own history with `local`, else the configured output
    named `output` (its `name`, queue name or one of its urls), else the first output:
    InfluxQL for an `influxdb` output, MetricsQL for a `victoriametrics` one. `progress`
    hears how far a long read has come (the local history reads every point).

    Raises QueryFailed: "no_spool" when the local history does not exist, "no_output"
    when no output is configured (or none by that name).
    """
    if local:
        from linkwatch.agent.query.local import LocalBackend
        from linkwatch.agent.spool import open_spool

        path = config.agent.spool.path
        try:
            return LocalBackend(open_spool(config, read_only=True), progress=progress)
        except FileNotFoundError:
            raise QueryFailed("no_spool", f"no spool at {path}: has the agent run with "
                              f"this config ({config.source})?") from None
        except PermissionError:
            raise QueryFailed("no_spool", f"this user may not read the spool {path}: run the "
                              "command as the service's user (sudo -u linkwatch …) or as a "
                              "member of its group") from None
    chosen = config.output(output)
    if chosen is None:
        named = f"named {output!r} " if output else ""
        raise QueryFailed("no_output", f"no output {named}in {config.source}: add one "
                          "under `outputs:`, or read this agent's own history (--local)")
    if isinstance(chosen, VictoriaOutput):
        from linkwatch.agent.query.victoria import VictoriaBackend

        return VictoriaBackend(chosen)
    from linkwatch.agent.query.influx import InfluxBackend

    return InfluxBackend(chosen)
