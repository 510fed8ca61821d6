"""The vendor-HTTP layer's boundaries: providers and connectors share it and never import each
other, and nothing outside it decides which statuses are retryable or parses ``Retry-After``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[3] / "src" / "inkbridge"
# Vendor emulators answer with Retry-After rather than read it; they are leaving the package.
NOT_CLIENTS = ("emulators",)

RETRYABLE_SET = re.compile(
    r"\bin\s*[({][^)}]*\b(408|425|429)\b|==\s*(408|425|429)\s+or\b|(status|code)\w*\s*>=\s*500\b"
)
RETRY_AFTER_READ = re.compile(r"""headers\.get\(\s*["']retry-after""", re.IGNORECASE)


def modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize(
    ("importer", "forbidden"),
    [
        ("providers", ("inkbridge.connectors",)),
        ("connectors", ("inkbridge.providers",)),
        ("vendor_http", ("inkbridge.providers", "inkbridge.connectors")),
    ],
)
def test_providers_and_connectors_never_import_each_other(
    importer: str, forbidden: tuple[str, ...]
) -> None:
    leaks = {
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in modules(importer)
        for name in imported(path)
        if name.startswith(forbidden)
    }
    assert leaks == set()


def code_lines_outside_the_layer() -> list[tuple[str, str]]:
    found = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in ("vendor_http", *NOT_CLIENTS):
            continue
        for line in path.read_text().splitlines():
            code = line.split("#", 1)[0]
            if code.strip() and not code.strip().startswith(('"', "'", "``")):
                found.append((str(relative), code))
    return found


def test_no_retryable_status_set_outside_the_layer() -> None:
    places = [f"{where}: {code.strip()}" for where, code in code_lines_outside_the_layer()]
    assert [p for p in places if RETRYABLE_SET.search(p.split(": ", 1)[1])] == []


def test_no_retry_after_parser_outside_the_layer() -> None:
    places = [
        f"{where}: {code.strip()}"
        for where, code in code_lines_outside_the_layer()
        if (RETRY_AFTER_READ.search(code) and "parse_retry_after" not in code)
        or "parsedate_to_datetime" in code
    ]
    assert places == []


def test_the_checks_would_see_a_copy() -> None:
    assert RETRYABLE_SET.search("if status in (408, 429) or status >= 500:")
    assert RETRYABLE_SET.search("retryable = code == 429 or code >= 500")
    assert RETRY_AFTER_READ.search('value = response.headers.get("Retry-After")')
    assert not RETRYABLE_SET.search("if status in (401, 403):")
