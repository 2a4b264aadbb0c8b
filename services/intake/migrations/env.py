from alembic import context

from servicekit.migrations import run_env
from services.intake.tables import metadata

run_env(context, metadata)
