"""The Procfile's processes, read from the Procfile and run as a Procfile runner runs them: each line's command
through a shell, from the project's folder, with this interpreter's scripts (``flask``, ``gunicorn``) on PATH.

Tests that start a process this way run what deployments run, so the Procfile cannot drift from what is tested.
"""

from __future__ import annotations

import os
import subprocess
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROCFILE = ROOT / "Procfile"


def procfile_lines() -> dict[str, str]:
    """``{process: command}`` for every ``name: command`` line of the Procfile."""
    lines = {}
    for line in PROCFILE.read_text(encoding="utf-8").splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() and not name.lstrip().startswith("#"):
            lines[name.strip()] = command.strip()
    return lines


def procfile_command(process: str) -> str:
    lines = procfile_lines()
    assert process in lines, f"no {process!r} process in the Procfile: {lines}"
    return lines[process]


def with_scripts_on_path(env: dict[str, str]) -> dict[str, str]:
    """``env`` with this interpreter's console scripts first on PATH (a virtualenv need not be activated)."""
    scripts = sysconfig.get_path("scripts")
    return {**env, "PATH": os.pathsep.join((scripts, env.get("PATH", os.defpath)))}


def start_process(process: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start the Procfile's ``process`` in a process group of its own (``os.killpg`` takes all of it); its
    output goes to ``log``."""
    with log.open("ab") as out:
        # The Procfile's line, through a shell as a Procfile runner runs it
        return subprocess.Popen(  # noqa: S602
            procfile_command(process),
            shell=True,
            cwd=ROOT,
            env=with_scripts_on_path(env),
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def run_process(process: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the Procfile's ``process`` to its end (one that is expected to stop by itself); its output captured."""
    return subprocess.run(  # noqa: S602 - as above
        procfile_command(process),
        shell=True,
        cwd=ROOT,
        env=with_scripts_on_path(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
