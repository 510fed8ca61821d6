"""The first hour as the README tells it: `inkbridge serve` on a random port, every link its
banner prints answers, and the README tour's commands, run as written by bash with curl and jq,
take a lead to a signed envelope in the sandbox CRM."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.processes import INKBRIDGE, free_port, stop_process, wait_http

pytestmark = pytest.mark.slow
README = Path(__file__).resolve().parents[2] / "README.md"
TOUR_MARK = "<!-- tour:"
TOKEN = re.compile(r"ibk_[A-Za-z0-9_-]{20,}")
URL = re.compile(r"https?://\S+")


@dataclass
class Served:
    base: str
    banner: str
    token: str


def _wait_for_banner(log: Path, proc: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if "export INKBRIDGE=" in text:  # the banner's last line
            return text
        assert proc.poll() is None, f"serve exited early:\n{text[-2000:]}"
        time.sleep(0.1)
    raise AssertionError("serve printed no banner")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("tour")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INKBRIDGE_")}
    env["INKBRIDGE_DATA_DIR"] = str(root / "data")
    log = root / "serve.log"
    with log.open("ab") as out:
        # From an empty directory: the defaults, as a first-time user gets them.
        proc = subprocess.Popen(
            [*INKBRIDGE, "serve", "--port", str(port)],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/healthz", proc=proc)
        banner = _wait_for_banner(log, proc)
        [token] = TOKEN.findall(banner)
        yield Served(base=base, banner=banner, token=token)
    finally:
        stop_process(proc)


def _banner_links(banner: str) -> list[tuple[str, bool]]:
    """Each URL the banner prints, and whether its line (or its section) asks for the token."""
    links: list[tuple[str, bool]] = []
    needs_token = False
    for line in banner.splitlines():
        if line.startswith("{"):
            continue  # a JSON log line, not the banner
        if "admin token (Authorization" in line:
            needs_token = True  # the sandbox section: every link under it takes the token
        if line.startswith("This terminal"):
            needs_token = False
        links += [(url.rstrip(".,;)"), needs_token) for url in URL.findall(line)]
    return links


def test_every_link_the_banner_prints_answers(served: Served) -> None:
    links = _banner_links(served.banner)
    assert f"{served.base}/" in [url for url, _ in links]
    assert any(url.endswith("/sandbox/crm/records") for url, _ in links)
    auth = {"Authorization": f"Bearer {served.token}"}
    for url, needs_token in links:
        bare = httpx.get(url, timeout=10)
        if needs_token:
            assert bare.status_code == 401, url
            assert httpx.get(url, headers=auth, timeout=10).status_code == 200, url
        else:
            assert 200 <= bare.status_code < 400, (url, bare.status_code)


def test_the_banner_says_serve_holds_the_terminal_and_names_the_address(served: Served) -> None:
    assert "Ctrl+C" in served.banner and "second one" in served.banner
    assert f"export INKBRIDGE={served.base}" in served.banner


def tour_block(readme: str) -> str:
    """The fenced shell block right after the README's tour marker."""
    after = readme[readme.index(TOUR_MARK) :]
    match = re.search(r"```sh\n(.*?)```", after, re.DOTALL)
    assert match is not None, "the tour marker is not followed by a sh block"
    return match.group(1)


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl, jq")
def test_the_readme_tour_runs_as_written_on_any_port(served: Served, tmp_path: Path) -> None:
    script = tour_block(README.read_text(encoding="utf-8"))
    assert "8000" not in script  # the address comes from $INKBRIDGE only
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env={**os.environ, "INKBRIDGE": served.base, "TOKEN": served.token},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    [line] = [ln for ln in done.stdout.splitlines() if ln.startswith("envelope env_")]
    assert line.endswith(": completed")
    envelope = line.split()[1].rstrip(":")
    assert f'"envelope:{envelope}"' in done.stdout  # the CRM holds its record
    assert '"envelopes"' in done.stdout and '"transitions"' in done.stdout  # the trace
