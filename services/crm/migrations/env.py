from alembic import context

from servicekit.migrations import run_env
from services.crm.tables import metadata

run_env(context, metadata)
