"""Loss, round-trip and jitter figures of one ping cycle."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from linkwatch.collector.sample import FieldValue


def mdev(rtts_ms: Sequence[float]) -> float:
    """Population standard deviation, as ping(8) reports it as `mdev`."""
    mean = sum(rtts_ms) / len(rtts_ms)
    return math.sqrt(sum((r - mean) ** 2 for r in rtts_ms) / len(rtts_ms))


def jitter(rtts_ms: Sequence[float]) -> float | None:
    """Mean absolute difference of consecutive round trips (RFC 3550-style, unsmoothed).

    `rtts_ms` are the replies in the order their echoes were sent; lost echoes are simply
    missing, so the neighbours of a gap count as consecutive. None with fewer than 2.
    """
    if len(rtts_ms) < 2:
        return None
    return sum(abs(b - a) for a, b in itertools.pairwise(rtts_ms)) / (len(rtts_ms) - 1)


def _ms(value: float) -> float:
    return round(value, 3)  # microsecond resolution is all a userspace clock can promise


def ping_fields(*, sent: int, rtts_ms: Sequence[float]) -> dict[str, FieldValue]:
    """The `ping` fields for one cycle: `sent` echoes, `rtts_ms` of those that came back.

    Fields that cannot be measured are absent: no RTT figures without a reply, no jitter
    with fewer than two, no loss when nothing could be sent.
    """
    received = len(rtts_ms)
    fields: dict[str, FieldValue] = {
        "sent": sent,
        "received": received,
        "up": 1 if received else 0,
    }
    if sent:
        fields["loss_pct"] = round(100.0 * (sent - received) / sent, 3)
    if rtts_ms:
        fields["rtt_min_ms"] = _ms(min(rtts_ms))
        fields["rtt_avg_ms"] = _ms(sum(rtts_ms) / received)
        fields["rtt_max_ms"] = _ms(max(rtts_ms))
        fields["rtt_mdev_ms"] = _ms(mdev(rtts_ms))
    spread = jitter(rtts_ms)
    if spread is not None:
        fields["jitter_ms"] = _ms(spread)
    return fields
