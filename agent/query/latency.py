"""Round-trip time, loss and jitter per ping target over a period.

rtt_median_ms and rtt_p95_ms are over the samples' `rtt_avg_ms` (the median as InfluxDB's
median(), the 95th percentile by nearest rank as its percentile()); loss_pct is
100 × (1 − Σreceived ÷ Σsent); jitter_ms is the mean of the samples' `jitter_ms`.
"""

from __future__ import annotations

from dataclasses import dataclass

from linkwatch.agent.query.columns import Series, present
from linkwatch.agent.query.states import median, percentile


@dataclass(frozen=True)
class Latency:
    site: str
    target: str
    samples: int                      # ping cycles in the period
    rtt_samples: int                  # of those, cycles where something came back
    rtt_median_ms: float | None
    rtt_p95_ms: float | None
    loss_pct: float | None
    jitter_ms: float | None

    def row(self) -> dict[str, object]:
        return {
            "site": self.site, "target": self.target,
            "rtt_median_ms": _round(self.rtt_median_ms), "rtt_p95_ms": _round(self.rtt_p95_ms),
            "loss_pct": _round(self.loss_pct), "jitter_ms": _round(self.jitter_ms),
            "samples": self.samples, "rtt_samples": self.rtt_samples,
        }


def _round(value: float | None) -> float | None:
    # float(): a store may give an integral mean as an integer (InfluxDB's JSON does); the
    # rows are the same whichever store answered
    return None if value is None else round(float(value), 3)


def loss_pct(sent: float | None, received: float | None) -> float | None:
    if not sent:
        return None
    return 100.0 * (1.0 - (received or 0) / sent)


# Every field from_series reads: the local history decodes only these.
SAMPLE_FIELDS = ("rtt_avg_ms", "jitter_ms", "sent", "received")


def from_series(site: str, target: str, series: Series) -> Latency:
    """The same figures as the InfluxQL aggregates, from one target's ping columns."""
    rtts = present(series.values("rtt_avg_ms"))
    jitters = present(series.values("jitter_ms"))
    sent = int(sum(present(series.values("sent"))))
    received = int(sum(present(series.values("received"))))
    return Latency(
        site=site, target=target, samples=len(series), rtt_samples=len(rtts),
        rtt_median_ms=median(rtts) if rtts else None, rtt_p95_ms=percentile(rtts, 95),
        loss_pct=loss_pct(sent, received),
        jitter_ms=sum(jitters) / len(jitters) if jitters else None,
    )
