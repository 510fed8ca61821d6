"""What the provider acceptance tests read from an envelope's view: its accepted states."""

from __future__ import annotations

from typing import Any


def accepted_states(view: dict[str, Any]) -> list[str]:
    return [e["to_state"] for e in view["timeline"] if e["outcome"] == "accepted"]
