"""What a destination's table says about ``inkbridge golive``: whether golive may make it fail
(``golive_may_fault``, a sandbox destination only) and whether the changes about golive's test
leads go to a sandbox twin instead of the destination (``golive_twin``).

``DestinationSettings`` takes these keys from ``DestinationGolive``; the environment overrides
them like any other key (``INKBRIDGE_DESTINATIONS__CRM__GOLIVE_TWIN=sandbox``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

# The built-in sandbox destinations: the only ones inkbridge can make fail on request.
SANDBOX_DESTINATION_KINDS = frozenset({"sandbox_crm", "sandbox_marketing"})
# "sandbox": the changes about golive's test leads are written to the destination's sandbox
# twin (a sandbox CRM write log of its own under <data_dir>/sandbox/), never to the vendor.
GoliveTwin = Literal["sandbox"]


class DestinationGolive(BaseModel):
    """The golive keys of ``[destinations.NAME]``."""

    model_config = ConfigDict(extra="forbid")

    kind: str = "sandbox_crm"
    # `inkbridge golive` may make this destination fail (5xx, 429, timeouts, a refused write)
    # to prove nothing is lost: only a sandbox twin, and only when the deployment says so.
    golive_may_fault: bool = False
    golive_twin: GoliveTwin | None = None

    @model_validator(mode="after")
    def _only_sandbox_faults(self) -> DestinationGolive:
        if self.golive_may_fault and self.kind not in SANDBOX_DESTINATION_KINDS:
            raise ValueError(
                "golive_may_fault: only a sandbox destination (sandbox_crm, sandbox_marketing) "
                "can be faulted"
            )
        return self
