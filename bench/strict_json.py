"""Micro-benchmark: what strict JSON reading (inkbridge.untrusted_json) adds per webhook.

Every vendor adapter parses the body once on the hot path (for its dedup key). This times that
parse as it was (``json.loads``) and as it is (``untrusted_json.loads``: depth scan, strict UTF-8,
duplicate keys, NaN, lone surrogates) on each vendor fixture of tests/fixtures/, plus the
sandbox event and a body with escaped surrogate pairs (the slow path that walks the document).

    .venv/bin/python bench/strict_json.py
"""

from __future__ import annotations

import json
import sys
import timeit
from pathlib import Path

from inkbridge import untrusted_json

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
SANDBOX = json.dumps(
    {
        "type": "document_sent",
        "timestamp": "2026-03-02T10:00:00Z",
        "data": {"envelope_id": "env-1", "occurred_at": "2026-03-02T10:00:00Z"},
    }
).encode()


def bodies() -> dict[str, bytes]:
    found = {"sandbox event": SANDBOX}
    for path in sorted(FIXTURES.glob("*/*.json")):
        # Re-encoded compactly, as vendors send them.
        found[path.parent.name] = json.dumps(json.loads(path.read_text())).encode()
    docusign = json.loads(found["docusign"])
    docusign["emailSubject"] = "Contract \U0001f58a\ufe0f"  # escaped as a surrogate pair
    found["docusign, emoji escaped"] = json.dumps(docusign).encode()
    return found


def per_call_us(statement: str, body: bytes) -> float:
    namespace = {"json": json, "untrusted_json": untrusted_json, "body": body}
    timer = timeit.Timer(statement, globals=namespace)
    loops, _ = timer.autorange()
    best = min(timer.repeat(repeat=7, number=loops))
    return best / loops * 1e6


def main() -> None:
    print(f"Python {sys.version.split()[0]}; best of 7, microseconds per body")
    print(f"{'body':26} {'bytes':>6} {'json.loads':>11} {'strict':>8} {'added':>7}")
    for name, body in bodies().items():
        plain = per_call_us("json.loads(body)", body)
        strict = per_call_us("untrusted_json.loads(body)", body)
        print(f"{name:26} {len(body):6d} {plain:11.1f} {strict:8.1f} {strict - plain:7.1f}")


if __name__ == "__main__":
    main()
