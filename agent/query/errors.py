"""Why a question could not be answered, as a kind the CLI can act on (never message text)."""

from __future__ import annotations

from typing import Literal

FailureKind = Literal[
    "unreachable",       # the store could not be asked at all (refused, timed out, DNS)
    "no_database",       # it answered, but the database or bucket does not exist
    "bad_request",       # it answered with an error about the question itself
    "no_spool",          # --local, but this config's spool does not exist
    "no_output",         # no store is configured (or none by the name given)
]


class QueryFailed(Exception):
    """A store could not answer; `kind` says why, the message says it for people."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind
