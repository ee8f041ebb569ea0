"""GET /v1/models/running: the models a chat can use now (registered, fresh and healthy)."""

from typing import Literal

from fastapi import APIRouter

from cortex_gateway.auth.dependencies import User
from cortex_gateway.models.deps import Catalog, Health
from cortex_gateway.models.views import RunningModel, RunningModels
from cortex_gateway.openapi import AUTHENTICATED, errors

router = APIRouter(prefix="/v1/models", tags=["models"])

RUNNING: Literal["running"] = "running"


@router.get("/running", responses=errors(*AUTHENTICATED))
async def running_models(catalog: Catalog, health_view: Health, _: User) -> RunningModels:
    models = []
    for upstream in sorted(catalog.all(), key=lambda u: u.served_model_name):
        name = upstream.served_model_name
        if not health_view.is_running(name):
            continue
        health = health_view.get(name)
        models.append(
            RunningModel(
                served_model_name=name,
                engine_type=upstream.engine_type,
                task=upstream.task,
                state=RUNNING,
                # What the server reports wins over the registry's declared size.
                max_model_len=(health.max_model_len if health else None) or upstream.context_size,
            )
        )
    return RunningModels(models=models)
