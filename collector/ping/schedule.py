"""When the echoes of one cycle go out, and how long each waits for its reply."""

from __future__ import annotations

from dataclasses import dataclass

from linkwatch.collector.ping.check import PingCheck

# The cycle uses this share of the check's timeout, so it ends before the scheduler's
# own limit even when the event loop runs late under load.
BUDGET_SHARE = 0.8
# A reply later than this is counted as lost even when the spacing would allow longer:
# 5 s is well beyond a congested satellite hop, and caps how long a dead target holds a cycle.
MAX_REPLY_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class EchoSchedule:
    """Echo i is sent at `i * spacing_s` after the cycle start and waits `wait_s` for its reply.

    `EchoSchedule.for_check(PingCheck("wan", "192.0.2.1", interval=Seconds(60)))`
    → 5 echoes 9.6 s apart, each waiting 5 s: the cycle ends 43.4 s after it starts.
    """

    count: int
    spacing_s: float
    wait_s: float
    budget_s: float = 0.0             # the share of the check's limit the cycle may use

    @classmethod
    def for_check(cls, check: PingCheck) -> EchoSchedule:
        limit = float(check.timeout if check.timeout is not None else check.interval)
        if check.count < 1:
            raise ValueError(f"ping check '{check.name}': count must be at least 1")
        if limit <= 0:
            raise ValueError(f"ping check '{check.name}': interval and timeout must be > 0")
        spacing = BUDGET_SHARE * limit / check.count
        return cls(count=check.count, spacing_s=spacing, wait_s=min(spacing, MAX_REPLY_WAIT_S),
                   budget_s=BUDGET_SHARE * limit)

    @property
    def duration_s(self) -> float:
        """The longest a cycle takes: the last echo's send time plus its wait."""
        return (self.count - 1) * self.spacing_s + self.wait_s

    @property
    def slack_s(self) -> float:
        """How late an echo may leave and its cycle still end within the budget."""
        return max(0.0, self.budget_s - self.duration_s)
