"""Retention as the servers write it: victoria-metrics' -retentionPeriod (a bare number is
months of 31 days) and InfluxDB's policy durations."""

from __future__ import annotations

import pytest

from linkwatch.agent.config.schema import VictoriaOutput
from linkwatch.agent.outputs.retention import Limits, backlog_warning, victoria_retention_s


@pytest.mark.parametrize(("flag", "seconds"), [
    ("1", 31 * 86400), ("1.5", 1.5 * 31 * 86400), ("7d", 7 * 86400), ("2w", 14 * 86400),
    ("100y", 100 * 365 * 86400), ("12h", 12 * 3600), ("1w2d", 9 * 86400),
    ("168h0m0s", 7 * 86400)])
def test_retention_is_read_as_the_server_reads_it(flag, seconds):
    assert victoria_retention_s(flag) == seconds


@pytest.mark.parametrize("flag", ["", "7x", "d7", "7d garbage"])
def test_a_retention_that_is_not_a_duration_is_refused(flag):
    with pytest.raises(ValueError):
        victoria_retention_s(flag)


def test_no_warning_without_points_at_risk_or_with_no_limit():
    output = VictoriaOutput(type="victoriametrics", url="http://192.0.2.1:8428")
    week = Limits(7 * 86400.0, "-retentionPeriod=7d", silent=True)
    assert backlog_warning(output, week, 0, 86400.0, 30 * 86400.0) is None
    forever = Limits(None, "retention policy autogen (0s)", silent=False)
    assert backlog_warning(output, forever, 10, 86400.0, 30 * 86400.0) is None
    text = backlog_warning(output, week, 10, 10 * 86400.0, 30 * 86400.0)
    assert text is not None and "10 queued points" in text and "204" in text
