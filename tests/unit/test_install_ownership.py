"""`agent install` and `uninstall --purge` leave alone what they did not make: an existing
config directory keeps its mode, an existing --state-dir its owner, and purge removes only
what the install created (its record in the prefix). The steps run for real in a temporary
root; the virtual environment, pip and the unit are left out (tests/integration covers them).
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

import pytest

from linkwatch.agent.operations.install import (
    InstallError,
    Layout,
    install_steps,
    uninstall_steps,
)

SERVICE_USER = "nobody"          # exists everywhere; the steps never create or remove it


@pytest.fixture
def root(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("the steps chown and create system directories: needs root")
    (tmp_path / "opt").mkdir()
    return tmp_path


def _layout(root: Path) -> Layout:
    prefix = root / "opt" / "linkwatch"
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "pyvenv.cfg").write_text("home = /usr/bin\n")    # as if the venv were made
    return Layout(prefix=prefix, config_dir=root / "etc" / "linkwatch",
                  systemd_dir=root / "etc" / "systemd" / "system",
                  state_dir=root / "srv" / "state", user=SERVICE_USER)


def _install(layout: Layout) -> list[str]:
    """Run the steps that touch directories and the record; the config is written by hand
    (the service user's group is not named after it here)."""
    done = []
    for step in install_steps(layout, source="/nonexistent", python="/usr/bin/python3"):
        done.append(step.command)
        if step.command.startswith(("install -d", "write ")):
            step.run()
        elif step.command.startswith("install -m 0640"):
            layout.config.write_text("agent: {name: a, site: s}\n")
    return done


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_existing_config_directory_keeps_its_mode(root):
    layout = _layout(root)
    layout.config_dir.mkdir(parents=True)
    layout.config_dir.chmod(0o750)
    done = _install(layout)
    assert _mode(layout.config_dir) == 0o750
    assert f"# {layout.config_dir} exists: kept as it is (owner and mode)" in done


def test_an_existing_state_directory_is_never_chowned(root):
    layout = _layout(root)
    layout.state_dir.mkdir(parents=True)
    nobody = pwd.getpwnam(SERVICE_USER)
    os.chown(layout.state_dir, 0, nobody.pw_gid)      # root's, the service's group may write
    layout.state_dir.chmod(0o770)
    _install(layout)
    info = layout.state_dir.stat()
    assert (info.st_uid, info.st_gid, _mode(layout.state_dir)) == (0, nobody.pw_gid, 0o770)


def test_a_state_directory_the_service_cannot_write_is_refused_before_any_change(root):
    layout = _layout(root)
    layout.state_dir.mkdir(parents=True)
    layout.state_dir.chmod(0o700)                      # root's alone
    with pytest.raises(InstallError, match="cannot write it"):
        _install(layout)
    assert not layout.config_dir.exists() and layout.state_dir.stat().st_uid == 0


def test_purge_removes_what_the_install_made_and_keeps_what_was_there(root):
    layout = _layout(root)
    layout.state_dir.mkdir(parents=True)               # the administrator's, with their data
    os.chown(layout.state_dir, pwd.getpwnam(SERVICE_USER).pw_uid, 0)
    (layout.state_dir / "theirs.txt").write_text("keep me")
    _install(layout)
    assert layout.config.exists()
    _install(layout)                                   # an upgrade keeps the first record

    steps = list(uninstall_steps(layout, purge=True))
    for step in steps:
        if not step.command.startswith("#"):
            step.run()
    commands = [s.command for s in steps]
    assert not layout.config_dir.exists()              # made by the install: gone
    assert (layout.state_dir / "theirs.txt").read_text() == "keep me"
    assert f"# {layout.state_dir} kept: the install did not create it" in commands
    assert f"# user {SERVICE_USER} kept: the install did not create it" in commands


def test_without_a_record_purge_removes_nothing_it_cannot_vouch_for(root):
    layout = _layout(root)
    layout.config_dir.mkdir(parents=True)
    layout.config.write_text("agent: {name: a, site: s}\n")
    layout.state_dir.mkdir(parents=True)
    for step in uninstall_steps(layout, purge=True):
        if not step.command.startswith("#"):
            step.run()
    assert layout.config.exists() and layout.state_dir.exists()
