"""The watcher's view of the other agents (`alerts.watch: true`): from the central store,
through the one query backend, each agent's newest `linkwatch` health point, and for the
silent ones the state of their site as the other agents' samples show it."""

from __future__ import annotations

from linkwatch.agent.alerts.evaluate import Silence
from linkwatch.agent.config.schema import Config
from linkwatch.agent.query.backend import open_backend
from linkwatch.agent.query.selection import Selection
from linkwatch.agent.query.status import mark_unreachable, state_kinds, target_status

LOOKBACK_MIN_S = 86400.0        # agents heard from within a day (at least) are watched
STATE_LOOKBACK_S = 3600.0       # a site's targets: their newest samples within an hour


def silences(config: Config, now_ns: int) -> list[Silence]:
    """Every agent the store heard from lately. Raises QueryFailed when it cannot answer."""
    limit = float(config.alerts.rules.agent_silent.for_)
    lookback_ns = int(max(LOOKBACK_MIN_S, 3 * limit) * 1e9)
    backend = open_backend(config, local=False, output=config.alerts.watch_output)
    try:
        newest: dict[str, tuple[int, str]] = {}
        for point in backend.latest("linkwatch", Selection(now_ns - lookback_ns, now_ns + 1)):
            agent = point.tags.get("agent", "")
            if agent and point.time_ns > newest.get(agent, (0, ""))[0]:
                newest[agent] = (point.time_ns, point.tags.get("site", ""))
        found = []
        for agent, (last_ns, site) in sorted(newest.items()):
            down: tuple[str, ...] = ()
            if agent != config.agent.name and (now_ns - last_ns) / 1e9 > limit and site:
                down = _site_down(config, backend, site, now_ns)
            found.append(Silence(agent, site, last_ns, down))
        return found
    finally:
        backend.close()


def _site_down(config: Config, backend, site: str, now_ns: int) -> tuple[str, ...]:
    """The targets of `site` the store shows DOWN (or UNREACHABLE), when every one of them
    with recent data is; () when any answers or none has recent data."""
    parent = config.parents().get(site)
    sel = Selection(now_ns - int(STATE_LOOKBACK_S * 1e9), now_ns + 1,
                    tuple(sorted(s for s in {site, parent} if s)))
    latest = [s for m in state_kinds(config) for s in backend.latest(m, sel)]
    rows = mark_unreachable(target_status(config, latest, now_ns), config.parents())
    known = [r for r in rows if r.site == site and r.state != "UNKNOWN"]
    if known and all(r.state in ("DOWN", "UNREACHABLE") for r in known):
        return tuple(sorted(r.target for r in known))
    return ()
