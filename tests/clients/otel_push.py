"""An app instrumented with the OpenTelemetry Python SDK, exporting once
with its OTLP/HTTP exporter (protobuf), for tests/otlp.rs.

    otel_push.py ENDPOINT TOKEN
"""
import sys

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

endpoint, token = sys.argv[1], sys.argv[2]

results = []


class Recording(OTLPMetricExporter):
    """The exporter, remembering whether each export was accepted."""

    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        result = super().export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        results.append(result)
        return result


exporter = Recording(endpoint=endpoint, headers={"Authorization": f"Bearer {token}"})
# Exports only when flushed: the test decides when.
reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
resource = Resource.create(
    {
        "service.name": "checkout",
        "service.namespace": "shop",
        "service.instance.id": "pod-7",
        "deployment.environment": "test",
    }
)
provider = MeterProvider(resource=resource, metric_readers=[reader])
meter = provider.get_meter("checkout.instrumentation", "1.0")

orders = meter.create_counter("orders.placed", unit="{order}", description="Orders placed.")
orders.add(3, {"region": "eu"})
orders.add(2, {"region": "us"})

meter.create_observable_gauge(
    "queue.depth",
    callbacks=[lambda options: [Observation(12, {"queue": "mail"})]],
    unit="{item}",
    description="Items waiting.",
)

latency = meter.create_histogram(
    "http.server.request.duration", unit="s", description="Request duration."
)
for seconds in (0.003, 0.2, 7):
    latency.record(seconds, {"http.route": "/cart"})

in_flight = meter.create_up_down_counter(
    "http.server.active_requests", unit="{request}", description="Requests in flight."
)
in_flight.add(5)
in_flight.add(-2)

reader.force_flush(timeout_millis=10_000)
provider.shutdown(timeout_millis=10_000)
if not results or any(r != MetricExportResult.SUCCESS for r in results):
    print(f"exports: {results}", file=sys.stderr)
    sys.exit(1)
