"""reqlite, the RethinkDB server in JavaScript the tests run against: find it, start it on 127.0.0.1, stop it.

One place for the test fixtures, ``docs/check_examples.py`` and ``benchmarks/rethink_bench.py``.
reqlite listens on every interface; ``reqlite_server.js`` passes 127.0.0.1 to ``listen`` instead.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess

__all__ = ["PACKAGE", "available", "free_port", "start"]

#: Where ``.ci/run`` installs reqlite (``npm install --prefix .ci/reqlite reqlite@2.3.0``), or ``PERSIST_REQLITE``.
PACKAGE = pathlib.Path(
    os.environ.get("PERSIST_REQLITE")
    or pathlib.Path(__file__).resolve().parent.parent / ".ci" / "reqlite" / "node_modules" / "reqlite"
)
_LAUNCHER = pathlib.Path(__file__).resolve().parent / "reqlite_server.js"


def available() -> bool:
    """True when Node and the reqlite package are both there."""
    return shutil.which("node") is not None and (PACKAGE / "lib" / "index.js").exists()


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(port: int) -> subprocess.Popen[bytes]:
    """Start reqlite on ``127.0.0.1:port`` and wait until it listens; stop it with ``terminate()`` or ``kill()``.

    Raises:
        RuntimeError: it did not start (the message holds what it wrote on stderr).
    """
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("reqlite needs Node.js (node) on the PATH")
    proc = subprocess.Popen(
        [node, str(_LAUNCHER), str(PACKAGE), str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"ready":
        proc.kill()
        _, err = proc.communicate()
        raise RuntimeError(f"reqlite did not start on port {port}: {err.decode(errors='replace')}")
    return proc
