"""Session fixtures: real servers started once per session on private loopback ports.

Each server lives in its own module under tests/servers/; they are registered here so
every test directory can ask for them by name.

Under CI (CI=true) a skipped test is reported as failed: the CI machine has every server,
tool and privilege the suite needs, so a skip there is a broken install, not a pass. The
one exception is a condition genuinely outside the machines the suite runs on, which the
skip says by starting its reason with OUTSIDE.
"""

from __future__ import annotations

import pytest

from tests.servers.process import OUTSIDE, under_ci

SUMMARY = "summary"   # a test's user property: text for the session's summary

pytest_plugins = [
    "tests.servers.influxdb",
    "tests.servers.victoria",
    "tests.servers.vmauth",
    "tests.servers.snmpd",
    "tests.servers.snmpsim",
    "tests.servers.alertmanager",
    "tests.servers.smtp",
]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and under_ci()) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if reason.removeprefix("Skipped: ").startswith(OUTSIDE):
        return
    report.outcome = "failed"
    report.longrepr = (f"skipped under CI=true: {reason}\nthe CI machine must provide what "
                       "this test needs (see .ci/run); a skip CI may accept says why, "
                       f"starting with {OUTSIDE!r}")


def pytest_terminal_summary(terminalreporter) -> None:
    """Tables a test recorded as the user property SUMMARY (the district's ground truth
    beside linkwatch's answers, each agent's CPU and memory), printed at the end of the
    session; a user property travels from an xdist worker to the session that prints."""
    texts = [value for reports in terminalreporter.stats.values() for report in reports
             if getattr(report, "when", None) == "call"
             for key, value in getattr(report, "user_properties", ()) if key == SUMMARY]
    if texts:
        terminalreporter.section("what happened, and what linkwatch said")
        for text in texts:
            terminalreporter.write(text + "\n")
