from cortex_runtime.migrations import run_env
from cortex_sessions.tables import metadata

run_env(metadata, version_table="alembic_version_sessions")
