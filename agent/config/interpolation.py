"""`${VAR}` and `${VAR:-default}` in config values, read from the agent's environment.

`$${` writes a literal `${`. A `$` anywhere else is kept as it is, so passwords and
communities with dollar signs need no escaping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{")


class UnsetVariable(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class MalformedReference(ValueError):
    pass


def expand(text: str, environ: Mapping[str, str]) -> str:
    """`text` with every `${VAR}` replaced; raises UnsetVariable or MalformedReference.

    >>> expand("${HOST:-127.0.0.1}:8086", {})
    '127.0.0.1:8086'
    """
    if "$" not in text:
        return text

    def replace(m: re.Match[str]) -> str:
        whole, name, default = m.group(0), m.group(1), m.group(2)
        if whole == "$${":
            return "${"
        if name is None:
            raise MalformedReference(whole)
        value = environ.get(name)
        if default is not None and not value:    # `:-` also covers set-but-empty, as in sh
            return default
        if value is None:
            raise UnsetVariable(name)
        return value

    return _REFERENCE.sub(replace, text)
