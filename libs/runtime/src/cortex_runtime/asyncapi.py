"""The AsyncAPI document, rendered by FastStream from what the services declare and register:
their endpoints (`Context.answer`) and durable consumers (`Context.consume`), found through the
`cortex.services` entry points, plus the event streams and buckets of the store
(`cortex-runtime asyncapi FILE`, run by `make schemas`)."""

from collections.abc import Awaitable, Callable
from importlib.metadata import entry_points
from typing import Any

import yaml
from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI

from cortex_contracts.events.audit import AuditRecorded
from cortex_contracts.events.models import ModelHealth, Upstream
from cortex_contracts.topology import Topology
from cortex_runtime.service import Service

SERVICE_VERSION = "0.1.0"
ENTRY_POINTS = "cortex.services"


def registered_services() -> list[Service[Any]]:
    found = [point.load() for point in entry_points(group=ENTRY_POINTS)]
    return sorted((s for s in found if isinstance(s, Service)), key=lambda s: s.name)


def build_asyncapi(
    topology: Topology | None = None, services: list[Service[Any]] | None = None
) -> str:
    names = topology or Topology()
    broker = NatsBroker(specification_url="nats://nats:4222", description="NATS JetStream")
    _document_store(broker, names)
    for service in services if services is not None else registered_services():
        for consumes in service.consumes:
            broker.publisher(
                consumes.subject(names),
                title=consumes.title,
                schema=consumes.event,
                description=f"{consumes.description} Consumed by the {service.name} service "
                f"(durable consumer {consumes.durable(names)}).",
            )
        for endpoint in service.answers:
            replies = " or ".join(reply.__name__ for reply in endpoint.replies)
            broker.subscriber(
                endpoint.subject(names),
                title=endpoint.title,
                description=f"{endpoint.description} Request-reply, answered by a "
                f"{service.name} replica (queue group {service.name}) with {replies}, or "
                "ErrorReply (header Cortex-Error: status; 400 for bad input).",
            )(_doc_handler(endpoint.request))
    spec = AsyncAPI(broker, title="Cortex Chat Playground events", version=SERVICE_VERSION)
    # Sorted: FastStream's order of channels varies from run to run; the document must not.
    document = yaml.safe_load(spec.to_specification().to_yaml())
    return str(yaml.safe_dump(document, sort_keys=True, allow_unicode=True, width=100))


def _document_store(broker: NatsBroker, names: Topology) -> None:
    """What is published into the store without a service of the runtime consuming it."""
    broker.publisher(
        names.audit_subject("{action}"),
        title="audit events",
        schema=AuditRecorded,
        description=f"Stream {names.audit_stream}. Security-relevant actions, for replay.",
    )
    broker.publisher(
        f"$KV.{names.registry_bucket}.{{model_key}}",
        title="model registry",
        schema=Upstream,
        description="KV bucket of registered upstreams, written by the gateway's admin API.",
    )
    broker.publisher(
        f"$KV.{names.health_bucket}.{{model_key}}",
        title="model health",
        schema=ModelHealth,
        description="KV bucket with a TTL, written by the health service, watched by gateways.",
    )
    broker.publisher(
        names.dead_letter_subject("{consumer}"),
        title="parked events",
        description=f"Stream {names.dead_letter_stream}. Copies of the events a consumer set "
        "aside (headers Cortex-Consumer, Cortex-Kind, Cortex-Reason, Cortex-Stream, "
        "Cortex-Stream-Seq, Cortex-Subject); the originals stay in their streams.",
    )


def _doc_handler(message_type: type) -> Callable[..., Awaitable[None]]:
    async def handler(message: message_type) -> None:  # type: ignore[valid-type]
        return None

    handler.__name__ = message_type.__name__
    return handler
