"""What the sandbox CRM does wrong on request beyond the shared fault vocabulary
(``sandbox.faults``, which only fails requests): refuse the next writes as invalid (a permanent
error, so inkbridge dead-letters them), apply every write twice (a destination that
double-writes), take a status short of legal completion as signed (a CRM automation that marks
the deal won on "viewed"), and drop the test mark (``inkbridge_test``) of every write, as a
connector that forgets it would. The first is how ``inkbridge golive`` forces a dead letter; the
others are the broken destinations its negative controls run against.

``POST /_defects`` (admin) sets them; ``golive``'s fault control sets ``reject_next`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from inkbridge.sandbox.crm_store import UpsertInput

STATUS = "inkbridge_status"
TEST_MARK = "inkbridge_test"
SIGNED = "completed"
EarlyStatus = Literal["sent", "delivered", "viewed", "partially_signed"]


class DefectBody(BaseModel):
    """The body of ``POST /_defects``."""

    model_config = ConfigDict(extra="forbid")
    reject_next: int = Field(default=0, ge=0, le=1000)
    write_twice: bool = False
    signed_on: list[EarlyStatus] = Field(default_factory=list)
    drop_test_mark: bool = False


@dataclass
class CrmDefects:
    """The CRM's current defects; none by default."""

    reject_next: int = 0  # the next N upserts answered 400 VALIDATION_ERROR
    write_twice: bool = False
    signed_on: tuple[str, ...] = ()  # statuses the CRM stores as ``completed``
    drop_test_mark: bool = False

    @classmethod
    def from_body(cls, body: DefectBody) -> CrmDefects:
        return cls(body.reject_next, body.write_twice, tuple(body.signed_on), body.drop_test_mark)

    def as_dict(self) -> dict[str, object]:
        return {
            "reject_next": self.reject_next,
            "write_twice": self.write_twice,
            "signed_on": list(self.signed_on),
            "drop_test_mark": self.drop_test_mark,
        }

    def take_rejection(self) -> bool:
        """Whether this upsert is refused, counting the refusal down."""
        if self.reject_next <= 0:
            return False
        self.reject_next -= 1
        return True

    def applied(self, inputs: Sequence[UpsertInput]) -> list[UpsertInput]:
        """The inputs as this CRM applies them (each twice, with an early status taken as
        signed, or without the test mark, when so defective)."""
        out: list[UpsertInput] = []
        for item in inputs:
            if item.properties.get(STATUS) in self.signed_on:
                item = UpsertInput(item.record_id, {**item.properties, STATUS: SIGNED}, item.facts)
            if self.drop_test_mark:
                kept = {k: v for k, v in item.properties.items() if k != TEST_MARK}
                item = UpsertInput(item.record_id, kept, item.facts)
            out.extend((item, item) if self.write_twice else (item,))
        return out
