"""Dependencies of the model features, built in the lifespan (see cortex_gateway.deps): the
registry, the health view, and the client that asks model servers for sizes and token counts."""

from typing import Annotated

from fastapi import Depends, Request

from cortex_gateway.models.catalog import ModelCatalog
from cortex_gateway.models.engine import EngineClient
from cortex_gateway.models.health_view import HealthView


async def get_catalog(request: Request) -> ModelCatalog:
    catalog: ModelCatalog = request.app.state.catalog
    return catalog


async def get_health(request: Request) -> HealthView:
    health: HealthView = request.app.state.health
    return health


async def get_engines(request: Request) -> EngineClient:
    engines: EngineClient = request.app.state.engines
    return engines


Catalog = Annotated[ModelCatalog, Depends(get_catalog)]
Health = Annotated[HealthView, Depends(get_health)]
Engines = Annotated[EngineClient, Depends(get_engines)]
