"""The SQL form of the CRM access policy selects exactly the rows that the per-record check allows."""

import itertools
import uuid
from dataclasses import asdict, dataclass

import pytest
from sqlalchemy import Column, MetaData, String, Table, Uuid, create_engine, insert, select

from servicekit.auth import Principal
from services.crm.access import DEFAULT_ROLES, AccessPolicy

pytestmark = pytest.mark.unit

SALES, SUPPORT = uuid.uuid4(), uuid.uuid4()
PIPELINES = {SALES: "sales", SUPPORT: "support"}

metadata = MetaData()
deals = Table(
    "deals",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("pipeline_id", Uuid),
    Column("owner_id", String),
    Column("department", String),
    Column("workgroup", String),
)


@dataclass(frozen=True)
class Row:
    id: uuid.UUID
    pipeline_id: uuid.UUID
    owner_id: str | None
    department: str | None
    workgroup: str | None


ROLES = {
    **DEFAULT_ROLES,
    "support-agent": {"deal:support": {"read": "all"}, "deal:sales": {"read": "own"}},
}

USERS = [
    Principal(user_id="u-1", department="sales"),
    Principal(user_id="u-2", department="sales", workgroups=["vip"]),
    Principal(user_id="u-3", department=None),
    Principal(user_id="u-4", department="support", roles=["support-agent"]),
    Principal(user_id="u-5", roles=["admin"]),
]


@pytest.mark.parametrize("user", USERS, ids=lambda user: user.user_id)
def test_condition_matches_check(user: Principal) -> None:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    rows = [
        Row(uuid.uuid4(), pipeline, owner, department, group)
        for pipeline, owner, department, group in itertools.product(
            PIPELINES, ["u-1", "u-2", "u-3", "u-4", None], ["sales", "support", None], [None, "vip"]
        )
    ]
    policy = AccessPolicy(ROLES)
    with engine.begin() as connection:
        connection.execute(insert(deals), [asdict(row) for row in rows])
        condition = policy.condition(user, "deal", "read", deals.c, pipeline_keys=PIPELINES)
        selected = set(connection.scalars(select(deals.c.id).where(condition)))

    allowed = {
        row.id
        for row in rows
        if policy.check(
            user, "deal", "read", row, workgroup=row.workgroup, pipeline_key=PIPELINES[row.pipeline_id]
        ).allowed
    }
    assert selected == allowed
    assert allowed, "each user should be allowed some rows, or the test proves nothing"
