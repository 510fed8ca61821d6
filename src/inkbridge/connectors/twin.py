"""A destination with a sandbox twin (``golive_twin``): the changes about ``inkbridge golive``'s
test leads (``Change.record.test``) go to the twin, every other change to the destination's own
connector, unchanged. A person's change never reaches the twin; a test lead's never reaches the
vendor.

A batch holding both is split; each part's results are its own, and a whole-batch failure of one
part (``RetryableError``/``PermanentError``) fails only that part's changes."""

from __future__ import annotations

from collections.abc import Sequence

from inkbridge.connectors.base import (
    BatchResult,
    Change,
    ChangeResult,
    Connector,
    ConnectorWrapper,
)
from inkbridge.errors import PermanentError, RetryableError


class TwinnedConnector(ConnectorWrapper):
    """``Connector`` that sends test-marked changes to ``twin`` and the rest to ``connector``."""

    def __init__(self, connector: Connector, twin: Connector) -> None:
        super().__init__(connector)
        self.twin = twin

    async def apply(self, changes: Sequence[Change]) -> BatchResult:
        tests = [c for c in changes if c.record.test]
        others = [c for c in changes if not c.record.test]
        if not tests:
            return await self.connector.apply(changes)
        if not others:
            return await self.twin.apply(changes)
        results: dict[int, ChangeResult] = {}
        retry_after: float | None = None
        meta: dict[str, object] = {}
        for part, connector in ((others, self.connector), (tests, self.twin)):
            try:
                done = await connector.apply(part)
            except RetryableError as exc:
                results.update(
                    (c.outbox_id, ChangeResult(c.outbox_id, False, True, exc.reason)) for c in part
                )
                retry_after = max(retry_after or 0.0, exc.retry_after or 0.0) or None
                continue
            except PermanentError as exc:
                results.update(
                    (c.outbox_id, ChangeResult(c.outbox_id, False, error=exc.reason)) for c in part
                )
                continue
            results.update((r.outbox_id, r) for r in done.results)
            if done.retry_after is not None:
                retry_after = max(retry_after or 0.0, done.retry_after)
            if connector is self.connector:
                meta = dict(done.meta)
        ordered = [
            results.get(c.outbox_id) or ChangeResult(c.outbox_id, False, True, "no result")
            for c in changes
        ]
        return BatchResult(ordered, retry_after=retry_after, meta=meta)
