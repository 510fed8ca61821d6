"""Journey rules: declarative reactions to envelope state changes (enter a marketing journey,
create a task for the CRM owner, suppress promotional messaging), gated by consent.

A rule fires on ``envelope.state_changed`` to one state. ``requires_marketing_consent`` rules only
fire when the lead may receive marketing; ``without_marketing_consent`` rules only fire when it
may not. Each firing is one fact (``envelope:{id}:journey:{rule}``), so it happens once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Action = Literal["enter_journey", "create_task", "suppress_marketing"]

ACTION_KINDS: dict[str, str] = {
    "enter_journey": "journey.enter",
    "create_task": "crm.task",
    "suppress_marketing": "marketing.suppress",
}
ACTION_ROLES: dict[str, str] = {
    "enter_journey": "marketing",
    "create_task": "crm",
    "suppress_marketing": "marketing",
}


@dataclass(frozen=True)
class JourneyRule:
    name: str
    on_state: str
    action: Action
    journey: str | None = None  # for enter_journey
    task_subject: str | None = None  # for create_task
    requires_marketing_consent: bool = False
    without_marketing_consent: bool = False
    destinations: tuple[str, ...] = ()  # empty: every destination of the action's role


DEFAULT_RULES: tuple[JourneyRule, ...] = (
    JourneyRule(
        name="completed_onboarding",
        on_state="completed",
        action="enter_journey",
        journey="onboarding",
        requires_marketing_consent=True,
    ),
    JourneyRule(
        name="expired_nurture",
        on_state="expired",
        action="enter_journey",
        journey="nurture",
        requires_marketing_consent=True,
    ),
    JourneyRule(
        name="declined_task",
        on_state="declined",
        action="create_task",
        task_subject="Envelope declined: follow up",
    ),
    JourneyRule(
        name="completed_suppress",
        on_state="completed",
        action="suppress_marketing",
        without_marketing_consent=True,
    ),
)


@dataclass(frozen=True)
class Firing:
    """One rule that fired for one envelope: the outbox kind and the fact it stands for."""

    rule: JourneyRule
    kind: str
    fact_key: str
    data: dict[str, str] = field(default_factory=dict)


def evaluate(
    rules: tuple[JourneyRule, ...],
    envelope_id: str,
    to_state: str,
    marketing_allowed: bool,
) -> list[Firing]:
    fired: list[Firing] = []
    for rule in rules:
        if rule.on_state != to_state:
            continue
        if rule.requires_marketing_consent and not marketing_allowed:
            continue
        if rule.without_marketing_consent and marketing_allowed:
            continue
        data = {"rule": rule.name}
        if rule.journey:
            # ``name`` is what connectors read (the ``journey.enter`` payload is
            # ``{name, rule}``, see connectors.kinds); ``journey`` is kept for existing readers.
            data["name"] = data["journey"] = rule.journey
        if rule.task_subject:
            data["subject"] = rule.task_subject
        fired.append(
            Firing(
                rule=rule,
                kind=ACTION_KINDS[rule.action],
                fact_key=f"envelope:{envelope_id}:journey:{rule.name}",
                data=data,
            )
        )
    return fired
