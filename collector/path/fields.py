"""A trace as the fields of a `path` point, and those fields read back as one sentence."""

from __future__ import annotations

from collections.abc import Mapping

from linkwatch.collector.path.traceroute import Hop, Trace
from linkwatch.collector.sample import FieldValue


def last_hop(trace: Trace) -> tuple[int, str] | None:
    """The farthest router that answered, as (hop number, address), or None if none did.

    The hop number is where that address first appeared: a router that answers its own TTL
    with time-exceeded and the next TTLs with "unreachable" is one hop, not two.
    """
    answered = [(hop.number, r.address) for hop in trace.hops for r in hop.replies if r]
    if not answered:
        return None
    address = max(answered)[1]
    return min(number for number, a in answered if a == address), address


def format_hops(trace: Trace) -> str:
    """The hops as one line, traceroute-style; a silent tail is one range.

        "1 10.77.1.1 0.05ms 0.04ms 0.04ms; 2 10.77.2.2 0.07ms !N * *; 3-30 * * *"
    """
    parts: list[str] = []
    hops = list(trace.hops)
    tail_start = len(hops)
    while tail_start > 0 and not hops[tail_start - 1].answered:
        tail_start -= 1
    for hop in hops[:tail_start]:
        parts.append(f"{hop.number} {_replies(hop)}")
    if tail_start < len(hops):
        first, last = hops[tail_start].number, hops[-1].number
        span = str(first) if first == last else f"{first}-{last}"
        parts.append(f"{span} " + " ".join("*" for _ in hops[-1].replies))
    return "; ".join(parts)


def _replies(hop: Hop) -> str:
    words: list[str] = []
    shown: str | None = None
    for reply in hop.replies:
        if reply is None:
            words.append("*")
            continue
        if reply.address != shown:  # traceroute(8) names the address again when it changes
            words.append(reply.address)
            shown = reply.address
        words.append(f"{reply.rtt_ms:g}ms" + (f" {reply.mark}" if reply.mark else ""))
    return " ".join(words)


def path_fields(trace: Trace, *, trigger: str | None = None) -> dict[str, int | str]:
    """The fields of a `path` point (see collector/path/README.md#metrics)."""
    fields: dict[str, int | str] = {
        "reached": int(trace.reached),
        "hop_count": len(trace.hops),
        "hops": format_hops(trace),
    }
    last = last_hop(trace)
    if last is not None:
        fields["last_hop"], fields["last_hop_address"] = last
    if trace.unsent is not None:
        fields["no_route"] = 1
    if trigger is not None:
        fields["trigger"] = trigger
    return fields


def silent_hops(hops: str) -> list[int]:
    """The hops of a `hops` field that did not answer at all, up to the first one past the
    farthest that did: "1 … ; 2 * * *; 3 … !N" → [2]; "1 … ; 2-30 * * *" → [2]."""
    silent = []
    for part in hops.split("; ") if hops else ():
        number, _, replies = part.partition(" ")
        if replies and set(replies.split()) == {"*"}:
            silent.append(int(number.split("-")[0]))
    return silent


def describe_break(fields: Mapping[str, FieldValue]) -> str:
    """One phrase for a `path` point's fields, for status and outage listings.

    "reached in 3 hops", "breaks after hop 2 (10.77.2.2)", "no hop answered", "no route to
    the target from this host", or "" when the fields hold no path (an empty mapping). A hop
    that stayed silent before the end is named, "breaks after hop 3 (10.77.2.2); hop 2
    silent, may rate-limit ICMP": routers limit their ICMP answers, and a silent hop is no
    evidence of where the path breaks.
    """
    if "reached" not in fields:
        return ""
    if fields.get("no_route"):
        return "no route to the target from this host: look at its routes and uplink"
    if int(fields["reached"]):
        hops = fields.get("last_hop") or fields.get("hop_count")
        if not hops:
            return "reached"
        return f"reached in {hops} hop" + ("" if hops == 1 else "s")
    if "last_hop" in fields and "last_hop_address" in fields:
        said = f"breaks after hop {fields['last_hop']} ({fields['last_hop_address']})"
        silent = silent_hops(str(fields.get("hops", "")))
        if silent:
            names = ", ".join(map(str, silent))
            said += (f"; hop {names} silent" if len(silent) == 1
                     else f"; hops {names} silent") + ", may rate-limit ICMP"
        return said
    return "no hop answered"
