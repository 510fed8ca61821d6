"""The ``[telemetry]`` table: where OpenTelemetry traces go. Off by default (``exporter =
"none"``): spans are then no-ops and nothing leaves the process."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TelemetrySettings(BaseModel):
    """OpenTelemetry tracing: the exporter, its endpoint and the service name spans carry."""

    model_config = ConfigDict(extra="forbid")

    # none: no spans kept; console: JSON spans on stdout; otlp: OTLP over HTTP (needs the
    # optional `otlp` extra, opentelemetry-exporter-otlp-proto-http).
    exporter: Literal["none", "otlp", "console"] = "none"
    # The OTLP/HTTP traces endpoint; unset, the exporter reads OTEL_EXPORTER_OTLP_* itself.
    otlp_endpoint: str | None = None
    service_name: str = Field(default="inkbridge", min_length=1, max_length=100)
