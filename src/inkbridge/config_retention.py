"""The ``[retention]`` table: how long each windowed category of stored data is kept, and how
often the worker enforces it. Durations are seconds or ISO 8601 (``P30D``), like ``[signing]``;
a category without a window is kept. Evidence admits only ``keep``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from inkbridge.domain.retention import EVIDENCE_IS_KEPT, WINDOWED, RetentionCategory


class RetentionSettings(BaseModel):
    """Retention windows per category (``domain.retention``); none: kept."""

    model_config = ConfigDict(extra="forbid")

    # Raw webhook bodies and headers; the receipt and its dedup key stay, so a replay of an
    # old delivery is still a duplicate.
    receipt_bodies: timedelta | None = None
    touchpoints: timedelta | None = None  # touches, and anonymous visitors with none left
    unconverted_leads: timedelta | None = None  # personal fields of leads without an envelope
    delivery_attempts: timedelta | None = None  # settled outbox rows and their attempts
    evidence: str = "keep"
    interval: timedelta = Field(default=timedelta(hours=1))  # between the worker's runs

    @field_validator("receipt_bodies", "touchpoints", "unconverted_leads", "delivery_attempts")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("a retention window must be positive (omit it to keep the data)")
        return value

    @field_validator("interval")
    @classmethod
    def _positive_interval(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("the retention interval must be positive")
        return value

    @field_validator("evidence", mode="before")
    @classmethod
    def _evidence_is_kept(cls, value: Any) -> str:
        if value != "keep":
            raise ValueError(EVIDENCE_IS_KEPT)
        return "keep"

    def window(self, category: RetentionCategory) -> timedelta | None:
        """The configured window of a windowed category (None: kept)."""
        if category not in WINDOWED:
            return None
        window: timedelta | None = getattr(self, category.value)
        return window

    @property
    def enforced(self) -> bool:
        """Whether any category has a window, so a retention run has anything to do."""
        return any(self.window(category) is not None for category in WINDOWED)
