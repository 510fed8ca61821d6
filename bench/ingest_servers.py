"""The two servers of the ingest benchmark (bench/ingest.py): uvicorn subprocesses on free local
ports with identical options, inkbridge's ingest app over a fresh SQLite file and the bare ASGI
endpoint; their CPU time, inkbridge's group-commit metrics and its committed rows."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # a throwaway benchmark secret


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def event_loop_option() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process so far (every thread, writer included)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(name: str, module: str, env: dict[str, str]) -> Server:
    port = free_port()
    # Identical options for both targets; only the application differs.
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        f"{module}:app",
        "--app-dir",
        str(BENCH),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--loop",
        event_loop_option(),
        "--http",
        "httptools",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    process = subprocess.Popen(command, env={**os.environ, **env})
    server = Server(name, port, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the {name} server exited with {process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            httpx.get(server.url + "/", timeout=1)
            return server
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"the {name} server did not start within 30 s")


def group_commit_stats(server: Server) -> dict[str, float]:
    text = httpx.get(server.url + "/metrics", timeout=5).text
    values: dict[str, float] = {}
    for line in text.splitlines():
        for name in ("count", "sum"):
            if line.startswith(f"inkbridge_group_commit_batch_rows_{name}"):
                values[name] = float(line.rsplit(" ", 1)[1])
    commits, rows = values.get("count", 0.0), values.get("sum", 0.0)
    return {
        "commits": commits,
        "rows": rows,
        "mean_batch": round(rows / commits, 2) if commits else 0,
    }


def count_rows(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        return int(conn.execute("SELECT count(*) FROM webhook_receipts").fetchone()[0])


@contextlib.contextmanager
def servers(workdir: Path) -> Iterator[tuple[Server, Server, Path]]:
    database = workdir / "inkbridge.db"
    inkbridge_env = {
        "INKBRIDGE_BENCH_DATABASE_URL": f"sqlite:///{database}",
        "INKBRIDGE_BENCH_SECRET": SECRET,
    }
    bare = start_server("bare", "bare_app", {})
    try:
        inkbridge = start_server("inkbridge", "ingest_app", inkbridge_env)
    except BaseException:
        bare.process.kill()
        raise
    try:
        yield bare, inkbridge, database
    finally:
        for server in (bare, inkbridge):
            if server.process.poll() is None:
                server.process.terminate()
                server.process.wait(timeout=30)
