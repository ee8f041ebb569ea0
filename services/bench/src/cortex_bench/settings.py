import socket

from pydantic import Field

from cortex_contracts.services import service
from cortex_contracts.settings import NatsSettings, ServiceSettings, service_config


class Settings(ServiceSettings, NatsSettings):
    model_config = service_config("bench")

    port: int = Field(default=service("bench").port, ge=1, le=65535)
    #: where the load goes: the gateway's /v1/chat/completions, like real traffic
    gateway_url: str = "http://127.0.0.1:8084"
    #: one request of a run gives up after this long (counted as an error)
    request_timeout_sec: float = Field(default=300.0, gt=0)
    #: how often the engine's Prometheus /metrics is sampled during a run
    metrics_interval_sec: float = Field(default=1.0, gt=0)
    #: a run still going this long after its time limit (the admin's max_duration_sec) is stuck:
    #: it is stopped and ends as failed, so that its model is free for the next run
    run_overtime_sec: float = Field(default=600.0, gt=0)
    #: names this replica in the run's "started" event
    replica: str = Field(default_factory=socket.gethostname)
