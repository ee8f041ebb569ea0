from cortex_gateway.tables import metadata
from cortex_runtime.migrations import run_env

run_env(metadata, version_table="alembic_version_gateway")
