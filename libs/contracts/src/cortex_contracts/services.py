"""The one table of Cortex services: name, port and what each needs.

Data only (no service is imported): the dev stack (`libs/devstack`), the test harness, the
deployment checks (`deploy/validate`) and the docs' port table (checked by a test) read it, so a
service's name and port are written here once.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    summary: str
    #: `cortex-<name> migrate` creates its PostgreSQL tables (run before the services start).
    migrates: bool = False
    #: it connects to PostgreSQL (needs DATABASE_URL).
    database: bool = False
    #: it serves /healthz, /readyz and /metrics; the simulator (a stand-in model server) has
    #: /healthz only.
    ops: bool = True
    #: its image also carries the built web UI (web/dist).
    web: bool = False

    @property
    def package(self) -> str:
        """Distribution name, also its console script."""
        return f"cortex-{self.name}"

    @property
    def env_prefix(self) -> str:
        """Prefix of its own settings: CORTEX_<SERVICE>_ (see cortex_contracts.settings)."""
        return f"CORTEX_{self.name.upper()}_"

    @property
    def port_variable(self) -> str:
        return f"{self.env_prefix}PORT"

    @property
    def host_variable(self) -> str:
        return f"{self.env_prefix}HOST"

    @property
    def ready_path(self) -> str:
        return "/readyz" if self.ops else "/healthz"


SERVICES: tuple[Service, ...] = (
    Service(
        "gateway",
        8084,
        "web UI, API, completions proxy",
        migrates=True,
        database=True,
        web=True,
    ),
    Service("sessions", 8085, "chat projection and queries", migrates=True, database=True),
    Service("health", 8086, "polls the model servers"),
    Service("usage", 8087, "usage consumer and queries", migrates=True, database=True),
    Service("bench", 8088, "benchmark runs: drives load through the gateway"),
    Service("simulator", 8090, "simulated model server", ops=False),
)

BY_NAME: dict[str, Service] = {service.name: service for service in SERVICES}

#: In the order their migrations run (gateway owns the accounts the others refer to).
MIGRATING: tuple[Service, ...] = tuple(s for s in SERVICES if s.migrates)


def service(name: str) -> Service:
    return BY_NAME[name]
