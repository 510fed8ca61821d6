"""The rendered API description works with no network: /docs and /redoc reference only assets
inkbridge serves itself, and in headless Chromium, with every request leaving the machine
refused, Swagger UI lists the operations and ReDoc renders them."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from inkbridge.api.app import create_app
from inkbridge.bootstrap import Container
from tests.support.builders import sandbox_container
from tests.support.served import serve

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REFERENCE = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']|url: ?'([^']+)'""")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"]


@pytest.fixture
def sqlite_container(tmp_path: Path) -> Iterator[Container]:
    built = sandbox_container(tmp_path, f"sqlite:///{tmp_path}/default.db")
    yield built
    built.databases.dispose()


def _references(html: str) -> list[str]:
    return [a or b for a, b in REFERENCE.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_every_asset_from_inkbridge_itself(
    sqlite_container: Container, page: str
) -> None:
    with TestClient(create_app(sqlite_container)) as client:
        answer = client.get(page)
        assert answer.status_code == 200
        html = answer.text
        assert "://" not in html, "the page names an absolute URL"
        assert "default-src 'self'" in answer.headers["content-security-policy"]
        references = _references(html)
        assert "/openapi.json" in references
        assert any(ref.endswith(".js") for ref in references)
        for reference in references:
            assert reference.startswith("/"), reference
            fetched = client.get(reference)
            assert fetched.status_code == 200, reference
            assert fetched.content


def test_an_unknown_asset_name_is_not_found(sqlite_container: Container) -> None:
    with TestClient(create_app(sqlite_container)) as client:
        assert client.get("/docs/assets/..%2Fpyproject.toml").status_code == 404
        assert client.get("/docs/assets/secrets.js").status_code == 404


@pytest.fixture
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield instance
        instance.close()


def _offline_page(browser: Any, base: str, outside: list[str]) -> Any:
    """A page on which every request not to ``base`` is refused (and noted in ``outside``)."""
    page = browser.new_page()

    def route(handle: Any) -> None:
        if handle.request.url.startswith(base):
            handle.continue_()
        else:
            outside.append(handle.request.url)
            handle.abort()

    page.route("**/*", route)
    return page


@pytest.mark.slow
def test_docs_and_redoc_render_the_operations_with_no_network(
    sqlite_container: Container, browser: Any
) -> None:
    outside: list[str] = []
    with serve(create_app(sqlite_container)) as base:
        page = _offline_page(browser, base, outside)
        page.goto(f"{base}/docs")
        page.wait_for_selector(".opblock", timeout=20_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert any("/v1/envelopes" in path for path in paths)

        page.goto(f"{base}/redoc")
        page.wait_for_selector("[data-section-id^='operation/']", timeout=20_000)
        assert page.get_by_text("/v1/envelopes").count() > 0
        page.close()
    assert outside == []
