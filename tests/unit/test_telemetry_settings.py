"""The [telemetry] table: off by default, each exporter it names installed, anything else
refused with the key named."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from pydantic import ValidationError

from inkbridge.config import Settings
from inkbridge.telemetry import TRACING, configure, exporter_for


@pytest.fixture
def restored() -> Iterator[None]:
    yield
    TRACING.shutdown()


def test_tracing_is_off_by_default(restored: None) -> None:
    settings = Settings()
    assert settings.telemetry.exporter == "none"
    configure(settings.telemetry)
    assert not TRACING.tracer.start_span("probe").is_recording()


def test_the_console_exporter_records_spans(restored: None) -> None:
    settings = Settings.model_validate({"telemetry": {"exporter": "console"}})
    assert isinstance(exporter_for(settings.telemetry), ConsoleSpanExporter)
    configure(settings.telemetry)
    span = TRACING.tracer.start_span("probe")
    assert span.is_recording()
    span.end()


def test_the_otlp_exporter_sends_to_the_configured_endpoint() -> None:
    endpoint = "http://127.0.0.1:4318/v1/traces"
    settings = Settings.model_validate(
        {"telemetry": {"exporter": "otlp", "otlp_endpoint": endpoint}}
    )
    exporter = exporter_for(settings.telemetry)
    assert isinstance(exporter, OTLPSpanExporter)
    # The exporter exposes its endpoint no other way.
    assert exporter._endpoint == endpoint
    exporter.shutdown()


@pytest.mark.parametrize("table", [{"exporter": "jaeger"}, {"exporter": "otlp", "other": 1}])
def test_an_unknown_exporter_or_key_is_refused(table: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings.model_validate({"telemetry": table})
    assert "telemetry" in str(refused.value)
