"""The spool a config names, with a send queue per configured output."""

from __future__ import annotations

from linkwatch.agent.config.schema import Config
from linkwatch.agent.spool._spool import Spool


def open_spool(config: Config, *, reader: bool = False, read_only: bool = False) -> Spool:
    """The config's spool, with a send queue per configured output.

    A `reader` (a CLI command) skips the whole-file integrity check and leaves the queues
    as the agent set them, even when its config lists other outputs. `read_only` (the
    commands that only look) also never writes, creates or prunes anything: it works for a
    user who may read the spool but not write it, and raises FileNotFoundError when the
    spool does not exist.
    """
    settings = config.agent.spool
    return Spool.open(
        settings.path,
        max_size=int(settings.max_size),
        history_s=float(settings.history),
        outputs=None if reader or read_only else [o.queue_name for o in config.outputs],
        check=not (reader or read_only),
        read_only=read_only,
        group_readable=settings.group_readable,
    )
