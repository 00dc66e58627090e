"""The PDF: the same HTML printed by headless Chromium (Debian `chromium`), with the network
blocked, so the PDF holds exactly what the HTML shows."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


class PdfUnavailable(RuntimeError):
    """No headless browser to print with."""


def browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    raise PdfUnavailable("PDF needs Chromium: install it (Debian: apt install chromium), "
                         "or ask for --format html and print that")


def isolated_args(profile: Path) -> list[str]:
    """Flags that keep a headless Chromium off the network and out of the user's profile."""
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run",
            "--disable-default-apps", "--proxy-server=127.0.0.1:9",
            "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}"]


def render(html: str, out: Path, *, timeout_s: float = 120.0) -> None:
    exe = browser()
    with tempfile.TemporaryDirectory(prefix="linkwatch-pdf-") as tmp:
        source = Path(tmp) / "report.html"
        source.write_text(html, encoding="utf-8")
        target = Path(tmp) / "report.pdf"
        result = subprocess.run(
            [exe, *isolated_args(Path(tmp) / "profile"), "--no-pdf-header-footer",
             f"--print-to-pdf={target}", source.as_uri()],
            capture_output=True, timeout=timeout_s, check=False)
        if not target.exists() or target.stat().st_size == 0:
            raise PdfUnavailable(f"{exe} did not write the PDF (exit {result.returncode}): "
                                 + result.stderr.decode(errors="replace")[-500:])
        shutil.move(target, out)
