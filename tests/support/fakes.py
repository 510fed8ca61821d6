"""An in-memory destination connector with scripted failures (a fake, not a mock)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from inkbridge.connectors.base import BatchResult, Change, ChangeResult
from inkbridge.errors import PermanentError, RetryableError


@dataclass
class RecordingConnector:
    """Keeps every write; ``failures`` lists what the next calls raise ('retry'/'permanent')."""

    name: str = "fake"
    max_batch: int = 100
    failures: list[str] = field(default_factory=list)
    writes: list[dict[str, Any]] = field(default_factory=list)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: int = 0
    delay: float = 0.0

    async def apply(self, changes: Sequence[Change]) -> BatchResult:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures:
            failure = self.failures.pop(0)
            if failure == "retry":
                raise RetryableError("scripted outage")
            if failure == "permanent":
                raise PermanentError("scripted refusal")
        for change in changes:
            state = change.payload.get("envelope", {}).get("state")
            self.writes.append(
                {
                    "record": change.record_key,
                    "kind": change.kind,
                    "facts": list(change.fact_keys),
                    "state": state,
                    "uncertain": change.uncertain,
                    "journey": change.payload.get("journey"),
                    "task": change.payload.get("task"),
                    "lead": change.payload.get("lead"),
                }
            )
            self.records[change.record_key] = {"state": state, **change.payload}
        return BatchResult(results=[ChangeResult(outbox_id=c.outbox_id, ok=True) for c in changes])

    def facts_written(self) -> list[str]:
        return [fact for write in self.writes for fact in write["facts"]]
