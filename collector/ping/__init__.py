"""ICMP echo probe: loss, round-trip times and jitter per target."""

from linkwatch.collector.ping.check import PingCheck

__all__ = ["PingCheck"]
