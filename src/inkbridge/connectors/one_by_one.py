"""Changes applied one request (or one short sequence of requests) each, in order: what the
connectors without a batch endpoint share (Pipedrive, outbound webhooks).

A retryable failure of the first change is raised for the whole call (nothing happened, the
call is retried and paced); a later one stops the run (the vendor is struggling) and marks the
rest retryable. A permanent failure marks only its own change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from inkbridge.connectors.base import BatchResult, Change, ChangeResult
from inkbridge.errors import PermanentError, RetryableError


async def apply_in_order(
    changes: Sequence[Change],
    apply_one: Callable[[Change], Awaitable[None]],
    *,
    lone_permanent_raises: bool = False,
) -> BatchResult:
    """Run ``apply_one`` on each change in order; ``lone_permanent_raises``: a batch of one
    change raises its permanent failure for the whole call instead of reporting it."""
    results: list[ChangeResult] = []
    for index, change in enumerate(changes):
        try:
            await apply_one(change)
        except RetryableError as exc:
            if not results:
                raise
            results.extend(
                ChangeResult(c.outbox_id, ok=False, retryable=True, error=exc.reason)
                for c in changes[index:]
            )
            return BatchResult(results, retry_after=exc.retry_after)
        except PermanentError as exc:
            if lone_permanent_raises and len(changes) == 1:
                raise
            results.append(ChangeResult(change.outbox_id, ok=False, error=exc.reason))
        else:
            results.append(ChangeResult(change.outbox_id, ok=True))
    return BatchResult(results)
