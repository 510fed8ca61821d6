"""OpenTelemetry tracing: the tracer inkbridge's spans come from, and its configuration.

Spans follow one delivery from the worker's processing of its receipt (``inkbridge.receipt``),
through each event's state change (``inkbridge.envelope.event``), to the connector call that
delivers the resulting changes (``inkbridge.delivery.batch`` and one ``inkbridge.delivery.change``
per change). Processing and delivery run at different times, in different loops and often in
different processes, so they are separate traces tied together by the ``inkbridge.correlation_id``
attribute every span about an envelope carries. The webhook hot path makes no span: its cost
stays one counter.

The tracer is held here rather than in OpenTelemetry's process-wide provider (settable once), so
that configuration and tests can each install their own. Off by default: a no-op tracer.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from inkbridge import __version__
from inkbridge.config_telemetry import TelemetrySettings

CORRELATION_ID = "inkbridge.correlation_id"
SCOPE = "inkbridge"


class Tracing:
    """The tracer inkbridge's spans come from: a no-op one until a provider is installed."""

    def __init__(self) -> None:
        self._provider: TracerProvider | None = None
        self._tracer: trace.Tracer = trace.NoOpTracer()

    @property
    def tracer(self) -> trace.Tracer:
        return self._tracer

    def install(self, provider: TracerProvider | None) -> None:
        """Make ``provider``'s tracer the one spans come from (None: back to no-op)."""
        self._provider = provider
        if provider is None:
            self._tracer = trace.NoOpTracer()
        else:
            self._tracer = provider.get_tracer(SCOPE, __version__)

    def shutdown(self) -> None:
        """Export what is held, stop the installed provider and go back to no-op."""
        if self._provider is not None:
            self._provider.shutdown()
        self.install(None)

    def flush(self) -> None:
        """Export what the installed provider still holds (before a process exits)."""
        if self._provider is not None:
            self._provider.force_flush()


TRACING = Tracing()


def tracer() -> trace.Tracer:
    return TRACING.tracer


def exporter_for(settings: TelemetrySettings) -> SpanExporter | None:
    """The exporter ``settings`` name, or None for ``none``."""
    if settings.exporter == "console":
        return ConsoleSpanExporter()
    if settings.exporter == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:  # the optional extra is not installed
            raise RuntimeError(
                "telemetry.exporter = 'otlp' needs the otlp extra: pip install 'inkbridge[otlp]'"
            ) from exc
        return OTLPSpanExporter(endpoint=settings.otlp_endpoint)
    return None


def configure(settings: TelemetrySettings) -> None:
    """Install the configured exporter; ``none`` installs nothing (and leaves whatever tracer is
    in place, so a process's tests or its embedder may install their own)."""
    exporter = exporter_for(settings)
    if exporter is None:
        return
    resource = Resource.create({"service.name": settings.service_name})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    TRACING.install(provider)
