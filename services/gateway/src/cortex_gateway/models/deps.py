"""Dependencies of the model features, built in the lifespan (see cortex_gateway.deps): the
registry, the health view, and the client that asks model servers for sizes and token counts."""

from typing import Annotated

from cortex_gateway.deps import from_app_state
from cortex_gateway.models.catalog import ModelCatalog
from cortex_gateway.models.engine import EngineClient
from cortex_gateway.models.health_view import HealthView

Catalog = Annotated[ModelCatalog, from_app_state("catalog")]
Health = Annotated[HealthView, from_app_state("health")]
Engines = Annotated[EngineClient, from_app_state("engines")]
