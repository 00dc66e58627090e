"""The PDF: the same HTML printed by headless Chromium (Debian `chromium`), with the network
blocked, so the PDF holds exactly what the HTML shows.

The page holds names from configs and devices, so Chromium prints it as it would an
untrusted page: scripts off (a content setting of its throw-away profile, besides the page's
own Content-Security-Policy), and its sandbox on wherever the kernel gives it user
namespaces. Chromium refuses its sandbox to root, so as root it runs as `nobody`; where no
user namespace can be made (a systemd unit with RestrictNamespaces=yes, which is its own
sandbox), it runs with --no-sandbox.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
UNPRIVILEGED = "nobody"
# Chromium's content setting "block" for JavaScript, in a profile's Preferences
_NO_SCRIPTS = {"profile": {"default_content_setting_values": {"javascript": 2}}}


class PdfUnavailable(RuntimeError):
    """No headless browser to print with."""


def browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    raise PdfUnavailable("PDF needs Chromium: install it (Debian: apt install chromium), "
                         "or ask for --format html and print that")


def isolated_args(profile: Path, *, sandbox: bool = False) -> list[str]:
    """Flags that keep a headless Chromium off the network and out of the user's profile.
    Without `sandbox` (in the report unit, which is the sandbox then:
    docs/service.md#the-report-unit), also --no-sandbox and --no-zygote, whose process
    would create the user namespaces RestrictNamespaces= refuses. Always without V8's JIT,
    which would map the writable and executable memory MemoryDenyWriteExecute= refuses
    (the page runs no script anyway)."""
    unsandboxed = () if sandbox else ("--no-sandbox", "--no-zygote")
    return ["--headless", *unsandboxed, "--js-flags=--jitless", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--disable-default-apps", "--proxy-server=127.0.0.1:9",
            "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}"]


def no_scripts_profile(profile: Path) -> Path:
    """A fresh Chromium profile in which no page runs JavaScript."""
    (profile / "Default").mkdir(parents=True, exist_ok=True)
    (profile / "Default" / "Preferences").write_text(json.dumps(_NO_SCRIPTS))
    return profile


@dataclass(frozen=True)
class Sandbox:
    """Who Chromium runs as so that its sandbox works: None for this process's user."""

    uid: int | None = None
    gid: int | None = None


def sandbox_for(workdir: Path) -> Sandbox | None:
    """How Chromium can run with its sandbox here, or None where the kernel (or the
    service's own sandbox) gives no user namespace. As root, `workdir` is handed to
    `nobody`, who then runs it."""
    as_user = Sandbox()
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam(UNPRIVILEGED)
        except KeyError:
            return None
        as_user = Sandbox(user.pw_uid, user.pw_gid)
    try:
        probe = subprocess.run(["unshare", "--user", "true"], capture_output=True, timeout=10,
                               check=False, **_as(as_user))
    except (OSError, subprocess.SubprocessError):
        return None
    if probe.returncode != 0:
        return None
    if as_user.uid is not None and as_user.gid is not None:
        for path in (workdir, *workdir.rglob("*")):
            os.chown(path, as_user.uid, as_user.gid)
    return as_user


def _as(sandbox: Sandbox) -> dict:
    if sandbox.uid is None:
        return {}
    return {"user": sandbox.uid, "group": sandbox.gid, "extra_groups": []}


def render(html: str, out: Path, *, timeout_s: float = 120.0) -> None:
    exe = browser()
    with tempfile.TemporaryDirectory(prefix="linkwatch-pdf-") as tmp:
        work = Path(tmp)
        source = work / "report.html"
        source.write_text(html, encoding="utf-8")
        target = work / "report.pdf"
        profile = no_scripts_profile(work / "profile")
        sandbox = sandbox_for(work)
        env = {**os.environ, "HOME": str(work)} if sandbox and sandbox.uid is not None \
            else None
        result = subprocess.run(
            [exe, *isolated_args(profile, sandbox=sandbox is not None),
             "--no-pdf-header-footer", f"--print-to-pdf={target}", source.as_uri()],
            capture_output=True, timeout=timeout_s, check=False, env=env,
            **_as(sandbox or Sandbox()))
        if not target.exists() or target.stat().st_size == 0:
            raise PdfUnavailable(f"{exe} did not write the PDF (exit {result.returncode}): "
                                 + result.stderr.decode(errors="replace")[-500:])
        shutil.copyfile(target, out)     # a file of this user's, not of `nobody`
