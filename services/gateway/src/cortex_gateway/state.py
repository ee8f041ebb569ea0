"""Long-lived resources of one gateway process, created in the app's lifespan."""

from dataclasses import dataclass, field

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncEngine

from cortex_contracts.topology import Topology
from cortex_gateway.models.catalog import ModelCatalog
from cortex_gateway.models.health_view import HealthView
from cortex_gateway.settings import Settings


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    nats: NatsClient
    js: JetStreamContext
    catalog: ModelCatalog
    health: HealthView
    extras: dict[str, object] = field(default_factory=dict)

    @property
    def topology(self) -> Topology:
        return self.settings.topology
