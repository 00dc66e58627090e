"""Value types that carry their unit, so config fields say what they hold.

The config loader turns `60s`, `256MiB` and `8Mbps` into these; code uses them as plain
numbers. Network rates are decimal (1 Mbps = 10^6 bit/s); sizes may be binary (MiB).
"""

from __future__ import annotations

import hmac


class Seconds(float):
    """A duration in seconds; written `500ms`, `60s`, `5m`, `1h`, `30d` in the config."""


class Bytes(int):
    """A size in bytes; written `512KiB`, `256MiB`, `1GB` in the config."""


class BitsPerSecond(float):
    """A rate in bit/s; written `2Mbps`, `100Mbps`, `1Gbps` in the config."""


class Secret:
    """A secret (community, password, token, key): shown as `***` by repr, str and format,
    refused by json.dumps, and never joined to text. `reveal()` is the one way to its value,
    for the one place that must send it.

        token = Secret("s3cr3t")
        f"token {token}"          # 'token ***'
        "Token " + token          # TypeError: reveal() it where it is sent
        json.dumps(token)         # TypeError: not JSON serializable
    """

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"a Secret holds text, not {type(value).__name__}")
        object.__setattr__(self, "_value", value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a Secret cannot be changed")

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return format("***", spec)

    def __add__(self, other: object):
        raise TypeError("a Secret cannot be joined to text: reveal() it where it is sent")

    __radd__ = __add__
    __mod__ = __add__
    __rmod__ = __add__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self):
        raise TypeError("a Secret is not pickled: it would leave the process in clear")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict) -> Secret:
        return self

    def reveal(self) -> str:
        """The secret itself, for the one place that must send it."""
        return self._value
