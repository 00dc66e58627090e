"""The PDF is printed by a real headless Chromium as an untrusted page: no script runs, and
the browser's own sandbox is on wherever this machine gives it user namespaces."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from linkwatch.agent.report import render_pdf
from tests.servers.process import unavailable

pytestmark = pytest.mark.integration

PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<p id="x">PRINTED AS WRITTEN</p>
<img src="x" onerror="document.getElementById('x').textContent='ONERROR RAN'">
<script>document.getElementById('x').textContent = 'SCRIPT RAN';</script>
</body></html>"""


def _tools() -> None:
    for tool, package in (("chromium", "chromium"), ("pdftotext", "poppler-utils")):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed (apt install {package})")


def test_a_script_or_an_event_handler_in_the_page_never_runs_when_printed(tmp_path: Path):
    _tools()
    out = tmp_path / "page.pdf"
    render_pdf.render(PAGE, out)
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, check=True,
                          text=True).stdout
    assert "PRINTED AS WRITTEN" in text
    assert "RAN" not in text
    assert out.stat().st_uid == os.geteuid()


def test_chromium_prints_with_its_sandbox_where_user_namespaces_exist(tmp_path: Path):
    _tools()
    allowed = subprocess.run(["unshare", "--user", "true"], capture_output=True,
                             check=False).returncode == 0
    if not allowed:
        pytest.skip("no user namespaces here: Chromium prints with --no-sandbox")
    sandbox = render_pdf.sandbox_for(tmp_path)
    assert sandbox is not None
    assert "--no-sandbox" not in render_pdf.isolated_args(tmp_path / "p", sandbox=True)
    if os.geteuid() == 0:                    # Chromium refuses its sandbox to root
        assert sandbox.uid == int(subprocess.check_output(["id", "-u", "nobody"]))
    out = tmp_path / "sandboxed.pdf"
    render_pdf.render(PAGE, out)
    assert out.stat().st_size > 1000
