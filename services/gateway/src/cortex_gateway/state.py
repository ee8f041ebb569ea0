"""Long-lived resources of one gateway process, created in the app's lifespan."""

from dataclasses import dataclass, field

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncEngine

from cortex_contracts.topology import Topology
from cortex_gateway.completions.runtime import CompletionRuntime
from cortex_gateway.models.catalog import ModelCatalog
from cortex_gateway.models.engine import EngineClient
from cortex_gateway.models.health_view import HealthView
from cortex_gateway.settings import Settings
from cortex_runtime.query import QueryClient


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    nats: NatsClient
    js: JetStreamContext
    catalog: ModelCatalog
    health: HealthView
    queries: QueryClient  # asks the services over NATS (one inbox for every query)
    extras: dict[str, object] = field(default_factory=dict)
    # Model servers: the shared HTTP client, context discovery, tokenizers (models/engine.py).
    engines: EngineClient = field(default_factory=EngineClient)
    # Answers and usage recorded after a completion ends (completions/runtime.py).
    completions: CompletionRuntime = field(default_factory=CompletionRuntime)

    @property
    def topology(self) -> Topology:
        return self.settings.topology
