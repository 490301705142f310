"""The domain stays a domain: no web framework or platform SDK under bot/, no adapter library (nor adapter) outside
bot/adapters/, and no I/O when it is imported."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOT = ROOT / "bot"
FORBIDDEN = {"flask", "slack_sdk", "slack_bolt", "lark_oapi", "wechatpy", "werkzeug", "handlers"}
# What only ``bot/adapters/`` may import: the libraries that talk to Redis, SQL, S3, the VLM, speech (PyAV), and the
# adapters.
ADAPTER_LIBRARIES = {"redis", "hiredis", "sqlalchemy", "psycopg", "boto3", "botocore", "openai", "lz4", "fakeredis"}
ADAPTER_LIBRARIES |= {"av"}
ADAPTERS = BOT / "adapters"


def bot_modules() -> list[Path]:
    return sorted(p for p in BOT.rglob("*.py") if "__pycache__" not in p.parts)


def domain_modules() -> list[Path]:
    return [p for p in bot_modules() if ADAPTERS not in p.parents]


def imported_modules(path: Path) -> set[str]:
    """Full names of the modules a module imports, wherever the import statement sits (``TYPE_CHECKING`` too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def imported_roots(path: Path) -> set[str]:
    """Top-level package names a module imports, wherever the import statement sits."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", ""))
            in (
                "import_module",
                "__import__",
            )
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            roots.add(node.args[0].value.split(".")[0])
    return roots


def test_there_are_modules_to_check() -> None:
    names = {p.stem for p in bot_modules()}
    assert {"engine", "machine", "store", "session", "replies", "intents"} <= names


@pytest.mark.parametrize("path", bot_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_bot_imports_no_framework_or_sdk(path: Path) -> None:
    bad = imported_roots(path) & FORBIDDEN
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", domain_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_domain_imports_no_adapter_library_nor_adapter(path: Path) -> None:
    bad = imported_roots(path) & ADAPTER_LIBRARIES
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}: only bot/adapters/ may"
    adapters = sorted(m for m in imported_modules(path) if m == "bot.adapters" or m.startswith("bot.adapters."))
    assert not adapters, f"{path.relative_to(ROOT)} imports {adapters}: the domain is given adapters through ports"


def test_the_domain_is_most_of_bot() -> None:
    """Guard the guard: the domain check above looks at the rooms it should, and the adapters are apart."""
    domain = {str(p.relative_to(BOT)) for p in domain_modules()}
    assert {"dialogue/engine.py", "orders/rules.py", "ops.py", "session.py", "ports.py"} <= domain
    assert not any(name.startswith("adapters/") for name in domain)
    assert (ADAPTERS / "redis" / "sessions.py").exists()


def test_the_adapter_check_sees_adapter_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot.adapters.redis.store import X\n"
        "def f():\n    import lz4.block\nfrom bot import adapters\n",
        "utf-8",
    )
    assert "lz4" in imported_roots(sample)
    assert {"bot.adapters.redis.store", "bot.adapters"} <= imported_modules(sample)


def test_the_import_check_sees_imports(tmp_path: Path) -> None:
    """Guard the guard: the parser catches the usual spellings."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import flask.json\nfrom werkzeug import x\ndef f():\n    import slack_sdk\n"
        "importlib.import_module('lark_oapi.api')\n",
        "utf-8",
    )
    assert {"flask", "werkzeug", "slack_sdk", "lark_oapi"} <= imported_roots(sample)


GUARD = textwrap.dedent(
    """
    import importlib, pkgutil, socket, sys

    class NoSocket(RuntimeError):
        pass

    def refuse(*args, **kwargs):
        raise NoSocket("a socket was opened at import time")

    socket.socket.__init__ = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse
    socket.socketpair = refuse

    import bot
    names = ["bot"] + [m.name for m in pkgutil.walk_packages(bot.__path__, "bot.")]
    for name in names:
        importlib.import_module(name)
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)
    print("imported", len(names), "leaked", leaked)
    try:  # guard the guard
        socket.socket()
    except NoSocket:
        print("guard bites")
    if leaked:
        sys.exit(3)
    """
)


def test_importing_bot_opens_no_socket_and_pulls_in_no_framework() -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"FORBIDDEN = {sorted(FORBIDDEN)!r}\n" + GUARD],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "leaked []" in result.stdout
    assert "guard bites" in result.stdout
