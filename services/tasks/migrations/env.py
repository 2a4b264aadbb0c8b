from alembic import context

from servicekit.migrations import run_env
from services.tasks.tables import metadata

run_env(context, metadata)
