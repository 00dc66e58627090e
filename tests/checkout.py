"""The checkout, importable as `linkwatch` by an interpreter that lacks the editable install
(another user's, or the system's): agent/ and collector/ are installed as linkwatch.agent and
linkwatch.collector, so the repository root on PYTHONPATH is not enough."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def checkout_site() -> Iterator[Path]:
    """A directory for PYTHONPATH, readable by every user, whose `linkwatch` package links to
    this checkout's folders; removed on exit."""
    site = Path(tempfile.mkdtemp(prefix="linkwatch-site-"))
    try:
        site.chmod(0o755)
        package = site / "linkwatch"
        package.mkdir(mode=0o755)
        for folder in ("agent", "collector"):
            (package / folder).symlink_to(REPO / folder, target_is_directory=True)
        yield site
    finally:
        shutil.rmtree(site, ignore_errors=True)
