"""Value types that carry their unit, so config fields say what they hold.

The config loader turns `60s`, `256MiB` and `8Mbps` into these; code uses them as plain
numbers. Network rates are decimal (1 Mbps = 10^6 bit/s); sizes may be binary (MiB).
"""


class Seconds(float):
    """A duration in seconds; written `500ms`, `60s`, `5m`, `1h`, `30d` in the config."""


class Bytes(int):
    """A size in bytes; written `512KiB`, `256MiB`, `1GB` in the config."""


class BitsPerSecond(float):
    """A rate in bit/s; written `2Mbps`, `100Mbps`, `1Gbps` in the config."""


class Secret(str):
    """A secret (community, password, token, key): never shown by repr, str or logs."""

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def reveal(self) -> str:
        """The secret itself, for the one place that must send it."""
        return str.__str__(self)
