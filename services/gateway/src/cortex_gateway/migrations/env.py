from cortex_contracts.runtime.migrations import run_env
from cortex_gateway.tables import metadata

run_env(metadata, version_table="alembic_version_gateway")
