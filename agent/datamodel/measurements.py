"""Every measurement linkwatch writes, as one table: the probes' tables (collector/metrics.py)
and the agent's own (agent/daemon/metrics.csv: the tags every point carries, and the
`linkwatch` health measurement; agent/alerts/metrics.csv: the `alert` measurement)."""

from __future__ import annotations

from linkwatch.collector.kind import ProbeKind
from linkwatch.collector.metrics import EVERY, MetricsTable, load_table, probe_metrics
from linkwatch.collector.registry import BUILTIN

# Read as a file: the daemon writes these points, and a lower layer may read its table
# but not import its code.
AGENT_TABLE = ("linkwatch.agent.daemon", "metrics.csv")
ALERT_TABLE = ("linkwatch.agent.alerts", "metrics.csv")


def data_model(probes: tuple[ProbeKind, ...] = BUILTIN) -> MetricsTable:
    """The rows of every measurement: what every point carries, the probes' in registry
    order, then the agent's own."""
    agent = load_table(*AGENT_TABLE)
    every = MetricsTable(tuple(r for r in agent.rows if r.measurement == EVERY))
    own = MetricsTable(tuple(r for r in agent.rows if r.measurement != EVERY))
    table = every
    for probe in probes:
        table += probe_metrics(probe)
    return (table + own + load_table(*ALERT_TABLE)).complete()
