"""Sends contest telemetry to a collector through the OpenTelemetry Python SDK's OTLP/HTTP log
exporter (protobuf, gzip), as a game server instrumented with OpenTelemetry would.

    send_logs.py ENDPOINT TOKEN FIXTURE.ndjson

Every structured line of FIXTURE (`{"level", "message", ...fields}`) is logged through Python's
`logging` with the SDK's LoggingHandler: the message is the record's body (the event name), the
fields its attributes. Then one moderation check with safety flags is emitted through the SDK's
Logger with an `eventName`. Prints {"exports": [...]} (each export's result) and exits 1 unless
every export succeeded.
"""

import json
import logging
import sys

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource


class RecordingExporter(OTLPLogExporter):
    """The real exporter, remembering what each export returned."""

    results = []

    def export(self, batch):
        result = super().export(batch)
        self.results.append(result)
        return result


def main():
    endpoint, token, fixture = sys.argv[1:4]
    resource = Resource.create(
        {"service.name": "glass-frontier", "deployment.environment.name": "prod"}
    )
    provider = LoggerProvider(resource=resource)
    exporter = RecordingExporter(
        endpoint=endpoint,
        headers={"Authorization": f"Bearer {token}"},
        compression=Compression.Gzip,
        timeout=30,
    )
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))

    log = logging.getLogger("glass_frontier.contest")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(LoggingHandler(level=logging.INFO, logger_provider=provider))
    with open(fixture, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            fields = json.loads(line)
            fields.pop("level", None)
            name = fields.pop("message")
            fields["session.id"] = "session-" + fields.get("roomId", "none")
            log.info(name, extra=fields)

    provider.get_logger("glass_frontier.moderation").emit(
        event_name="moderation.check",
        body="narrative check flagged",
        severity_text="WARN",
        attributes={
            "checkId": "chk-otlp-1",
            "auditRef": "audit-7",
            "safetyFlags": ["ok", "prohibited-capability"],
            "latencyMs": 12.5,
        },
    )
    provider.force_flush()
    provider.shutdown()
    names = [r.name for r in RecordingExporter.results]
    print(json.dumps({"exports": names}))
    ok = names and all(r == LogRecordExportResult.SUCCESS for r in RecordingExporter.results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
