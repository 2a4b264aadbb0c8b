from alembic import context

from servicekit.migrations import run_env
from services.search.tables import metadata

run_env(context, metadata)
