"""Property: whatever the policies and data, client A's view contains nothing of client B and nothing internal.

The events go through the extranet's real consumers into a migrated SQLite database, and the view is
read with the same function that serves ``GET /portal/api/view`` and the staff preview.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, text

from contracts.envelope import Event
from servicekit.db import create_engine, create_sessionmaker
from servicekit.migrations import migrate
from services.extranet.bootstrap import MIGRATIONS
from services.extranet.handlers import (
    materialize_company,
    project_company,
    project_deal,
    project_document,
    project_file,
    project_task,
)
from services.extranet.policy import DealFields, SharingPolicy
from services.extranet.tables import SharingPolicyRow, metadata
from services.extranet.view import PortalView, read_view
from tests.extranet_events import (
    company_event,
    deal_event,
    document_event,
    file_event,
    task_event,
    version_state,
)

pytestmark = pytest.mark.integration

PIPELINES = [uuid.UUID(int=1), uuid.UUID(int=2)]
HANDLERS: dict[str, Any] = {
    "company": project_company,
    "deal": project_deal,
    "task": project_task,
    "document": project_document,
    "file": project_file,
}


@dataclass
class Client:
    """One client's generated events and what must, and must not, reach its portal."""

    label: str
    company_id: uuid.UUID = field(default_factory=uuid.uuid4)
    events: list[Event[Any]] = field(default_factory=list)
    deal_ids: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # deal id -> pipeline id, deals still here
    visible_task_ids: set[uuid.UUID] = field(default_factory=set)
    hidden_task_ids: set[uuid.UUID] = field(default_factory=set)
    published_version_ids: set[uuid.UUID] = field(default_factory=set)
    draft_version_ids: set[uuid.UUID] = field(default_factory=set)
    shared_file_ids: set[uuid.UUID] = field(default_factory=set)
    unshared_file_ids: set[uuid.UUID] = field(default_factory=set)
    every_id: set[uuid.UUID] = field(default_factory=set)


deal_specs = st.lists(
    st.tuples(st.sampled_from(PIPELINES), st.booleans(), st.booleans(), st.booleans()), max_size=4
)  # pipeline, has amount, later moved to the other client, later deleted
task_specs = st.lists(st.tuples(st.booleans(), st.booleans(), st.booleans()), max_size=4)  # flagged, flips, public
document_specs = st.lists(st.lists(st.booleans(), min_size=1, max_size=3), max_size=3)  # published per version
file_specs = st.lists(st.tuples(st.booleans(), st.booleans()), max_size=3)  # shared, flips later
client_data = st.fixed_dictionaries(
    {"deals": deal_specs, "tasks": task_specs, "documents": document_specs, "files": file_specs}
)


@st.composite
def policies(draw: st.DrawFn, chosen_pool: list[uuid.UUID]) -> SharingPolicy:
    deals = draw(st.sampled_from(["none", "all", "pipelines", "chosen"]))
    pipeline_ids = draw(st.lists(st.sampled_from(PIPELINES), min_size=1, max_size=2, unique=True))
    deal_ids = draw(st.lists(st.sampled_from(chosen_pool), min_size=1, unique=True)) if chosen_pool else []
    if deals == "chosen" and not deal_ids:
        deals = "all"
    return SharingPolicy(
        deals=deals,
        pipeline_ids=pipeline_ids if deals == "pipelines" else [],
        deal_ids=deal_ids if deals == "chosen" else [],
        deal_fields=DealFields(stage=draw(st.booleans()), next_step=draw(st.booleans()), amount=draw(st.booleans())),
        tasks=draw(st.booleans()),
        documents=draw(st.booleans()),
        files=draw(st.booleans()),
    )


def build_client(label: str, data: dict[str, Any], company_id: uuid.UUID, other: uuid.UUID) -> Client:
    """Turn generated specs into events; every string carries the client's label."""
    client = Client(label=label, company_id=company_id)
    client.events.append(company_event(client.company_id, f"{label} company"))
    client.every_id.add(client.company_id)
    for index, (pipeline, has_amount, moves, deleted) in enumerate(data["deals"]):
        deal_id = uuid.uuid4()
        amount = Decimal(f"{index + 1}000.00") if has_amount else None
        stage = f"{label} stage {index}"
        client.events.append(
            deal_event(
                deal_id,
                client.company_id,
                title=f"{label} deal {index}",
                stage_name=stage,
                amount=amount,
                pipeline_id=pipeline,
                contact_name=f"INTERNAL {label} contact",
            )
        )
        client.every_id.add(deal_id)
        if moves:
            client.events.append(deal_event(deal_id, other, version=2, title=f"{label} deal {index}", amount=amount))
        elif deleted:
            event = deal_event(deal_id, client.company_id, version=2, title=f"{label} deal {index}", amount=amount)
            deleted_deal = event.data.deal.model_copy(update={"deleted": True})
            client.events.append(
                event.model_copy(update={"data": event.data.model_copy(update={"deal": deleted_deal})})
            )
        else:
            client.deal_ids[deal_id] = pipeline

    for index, (flagged, flips, public) in enumerate(data["tasks"]):
        task_id = uuid.uuid4()
        public_text = f"{label} public result {index}" if public else None
        title = f"{label} task {index}"
        client.events.append(
            task_event(
                task_id,
                client.company_id,
                visible_to_client=flagged,
                title=title,
                public_text=public_text,
                internal_text=f"INTERNAL {label} note",
            )
        )
        final = flagged != flips
        if flips:
            client.events.append(
                task_event(
                    task_id, client.company_id, version=2, visible_to_client=final, title=title, public_text=public_text
                )
            )
        (client.visible_task_ids if final else client.hidden_task_ids).add(task_id)
        client.every_id.add(task_id)

    for index, published_flags in enumerate(data["documents"]):
        document_id = uuid.uuid4()
        versions = [
            version_state(uuid.uuid4(), number + 1, f"{label} doc {index}.{number}.pdf")
            for number in range(len(published_flags))
        ]
        published = [version.id for version, flag in zip(versions, published_flags, strict=True) if flag]
        client.events.append(
            document_event(document_id, client.company_id, versions, published, title=f"{label} document {index}")
        )
        client.published_version_ids.update(published)
        client.draft_version_ids.update(version.id for version in versions if version.id not in published)
        client.every_id.update([document_id, *(version.id for version in versions)])

    for index, (shared, flips) in enumerate(data["files"]):
        file_id = uuid.uuid4()
        client.events.append(file_event(file_id, client.company_id, shared=shared, file_name=f"{label} file {index}"))
        final = shared != flips
        if flips:
            client.events.append(
                file_event(file_id, client.company_id, version=2, shared=final, file_name=f"{label} file {index}")
            )
        (client.shared_file_ids if final else client.unshared_file_ids).add(file_id)
        client.every_id.add(file_id)
    return client


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("extranet") / "extranet.db"
    url = f"sqlite+aiosqlite:///{path}"

    async def upgrade() -> None:
        engine = create_engine(url)
        await migrate(engine, MIGRATIONS)
        await engine.dispose()

    asyncio.run(upgrade())
    return url


async def apply_scenario(
    url: str, clients: list[Client], policies_by_company: list[tuple[uuid.UUID, SharingPolicy]], policy_first: bool
) -> tuple[PortalView, str]:
    """Apply events and policies in the drawn order; return A's view and a text dump of every table."""
    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    try:
        async with sessionmaker() as session, session.begin():
            for table in reversed(metadata.sorted_tables):
                await session.execute(delete(table))

        async def set_policies() -> None:
            for company_id, policy in policies_by_company:
                async with sessionmaker() as session, session.begin():
                    await session.merge(
                        SharingPolicyRow(
                            company_id=company_id, policy=policy.model_dump(mode="json"), updated_by="u-test"
                        )
                    )
                    await materialize_company(session, company_id, policy)

        if policy_first:
            await set_policies()
        # Interleave the two clients' events, as they would arrive from several partitions.
        streams = [list(client.events) for client in clients]
        while any(streams):
            for stream in streams:
                if stream:
                    event = stream.pop(0)
                    async with sessionmaker() as session, session.begin():
                        await HANDLERS[event.aggregate_type](session, event)
        if not policy_first:
            await set_policies()

        async with sessionmaker() as session:
            view = await read_view(session, clients[0].company_id)
            dump: list[str] = []
            for table in metadata.sorted_tables:
                rows = (await session.execute(text(f"SELECT * FROM {table.name}"))).all()  # noqa: S608 - table names from metadata
                dump.extend(repr(tuple(row)) for row in rows)
        return view, "\n".join(dump)
    finally:
        await engine.dispose()


def ids_in(view: PortalView) -> set[uuid.UUID]:
    ids = {view.company_id}
    ids.update(deal.id for deal in view.deals)
    ids.update(task.id for task in view.tasks)
    ids.update(version.id for version in view.documents)
    ids.update(version.document_id for version in view.documents)
    ids.update(file.id for file in view.files)
    return ids


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data_a=client_data, data_b=client_data, choice=st.data(), policy_first=st.booleans())
def test_client_sees_only_its_shared_records(
    sqlite_url: str, data_a: dict[str, Any], data_b: dict[str, Any], choice: st.DataObject, policy_first: bool
) -> None:
    company_a, company_b = uuid.uuid4(), uuid.uuid4()
    # A deal marked as moving goes to another company in its second event: A's deals to B, B's elsewhere.
    client_a = build_client("AAA", data_a, company_a, other=company_b)
    client_b = build_client("BBB", data_b, company_b, other=uuid.uuid4())
    # Staff may choose any deal id, also one of another client, which the view must still keep out.
    pool = [*client_a.deal_ids, *client_b.deal_ids]
    policy_a = choice.draw(policies(pool), label="policy A")
    policy_b = choice.draw(policies(pool), label="policy B")

    view, dump = asyncio.run(
        apply_scenario(
            sqlite_url, [client_a, client_b], [(client_a.company_id, policy_a), (company_b, policy_b)], policy_first
        )
    )
    served = view.model_dump_json()

    # Nothing of client B, and nothing internal, reaches A's portal user.
    assert "BBB" not in served
    assert not (ids_in(view) & client_b.every_id)
    assert "INTERNAL" not in served
    assert not (ids_in(view) & client_a.draft_version_ids)
    assert not (ids_in(view) & client_a.hidden_task_ids)
    assert not (ids_in(view) & client_a.unshared_file_ids)

    # Internal text, drafts and unflagged task titles are not stored anywhere, for either client.
    assert "INTERNAL" not in dump
    for draft_id in client_a.draft_version_ids | client_b.draft_version_ids:
        assert str(draft_id) not in dump
        assert draft_id.hex not in dump

    # Fields the policy forbids are empty, and A receives exactly what its policy shares.
    fields = policy_a.deal_fields
    for deal in view.deals:
        assert fields.amount or (deal.amount is None and deal.currency is None)
        assert fields.stage or deal.stage_name is None
    assert {deal.id for deal in view.deals} == expected_deals(policy_a, client_a)
    assert {task.id for task in view.tasks} == (client_a.visible_task_ids if policy_a.tasks else set())
    assert {v.id for v in view.documents} == (client_a.published_version_ids if policy_a.documents else set())
    assert {file.id for file in view.files} == (client_a.shared_file_ids if policy_a.files else set())


def expected_deals(policy: SharingPolicy, client: Client) -> set[uuid.UUID]:
    if policy.deals == "all":
        return set(client.deal_ids)
    if policy.deals == "pipelines":
        return {deal_id for deal_id, pipeline in client.deal_ids.items() if pipeline in policy.pipeline_ids}
    if policy.deals == "chosen":
        return set(client.deal_ids) & set(policy.deal_ids)
    return set()


async def test_deleted_company_view_is_emptied(sqlite_url: str) -> None:
    company_id, deal_id = uuid.uuid4(), uuid.uuid4()
    engine = create_engine(sqlite_url)
    sessionmaker = create_sessionmaker(engine)
    try:
        async with sessionmaker() as session, session.begin():
            for table in reversed(metadata.sorted_tables):
                await session.execute(delete(table))
            policy = SharingPolicy(deals="all")
            await session.merge(
                SharingPolicyRow(company_id=company_id, policy=policy.model_dump(mode="json"), updated_by="u")
            )
            await project_company(session, company_event(company_id, "Romashka"))
            await project_deal(session, deal_event(deal_id, company_id))
        async with sessionmaker() as session:
            assert [deal.id for deal in (await read_view(session, company_id)).deals] == [deal_id]

        deleted = company_event(company_id, "Romashka")
        deleted_state = deleted.data.model_copy(update={"deleted": True})
        async with sessionmaker() as session, session.begin():
            await project_company(session, deleted.model_copy(update={"aggregate_version": 2, "data": deleted_state}))
            await project_deal(session, deal_event(deal_id, company_id, version=2, stage_name="Won"))
        async with sessionmaker() as session:
            assert (await read_view(session, company_id)).deals == []
    finally:
        await engine.dispose()
