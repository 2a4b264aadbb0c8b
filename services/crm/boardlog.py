"""The board change log: one row per deal change on a pipeline's board, written in the change's transaction.

Session events record every deal that a transaction creates or changes, whatever use case changed it
(the API, inquiries, task and document projections, the marker refresh, merges). Just before the
commit, the log gets a row for each pipeline the deal was on before or is on after the change, so a
move between pipelines is logged on both boards.

Positions are per pipeline. A writer takes them with an upsert of the pipeline's ``board_positions``
row (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``). That row stays locked until the transaction
ends, so a concurrent writer of the same pipeline waits and takes the next positions only after the
first one committed. A reader that has seen position ``n`` committed therefore never finds a smaller
position committing later. Position rows are the last locks a transaction takes, and it takes them
in pipeline id order, so they add no deadlock between transactions that change the same pipelines.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, insert, inspect, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, SessionTransaction

from services.crm.tables import BoardChange, BoardPosition, Deal

#: PostgreSQL channel that carries the id of each pipeline whose board changed.
NOTIFY_CHANNEL = "crm_board"

_BEFORE = "crm.board.before"
_CHANGED = "crm.board.changed"

#: Callbacks of this process that get the pipeline ids of each committed board change.
_local_listeners: list[Callable[[set[uuid.UUID]], None]] = []


@dataclass(frozen=True)
class _Placement:
    """A deal's pipeline, deleted flag and owner fields, which decide where and for whom it appears."""

    pipeline_id: uuid.UUID
    deleted: bool
    owner_id: str | None
    department: str | None
    workgroup: str | None


def add_local_listener(callback: Callable[[set[uuid.UUID]], None]) -> None:
    """Call ``callback`` with the changed pipeline ids after each commit of this process."""
    _local_listeners.append(callback)


def remove_local_listener(callback: Callable[[set[uuid.UUID]], None]) -> None:
    if callback in _local_listeners:
        _local_listeners.remove(callback)


def _committed_value(deal: Deal, name: str) -> Any:
    history = inspect(deal).attrs[name].history
    return history.deleted[0] if history.deleted else getattr(deal, name)


def _placement(deal: Deal, *, committed: bool) -> _Placement:
    def value(name: str) -> Any:
        return _committed_value(deal, name) if committed else getattr(deal, name)

    return _Placement(
        value("pipeline_id"), bool(value("deleted")), value("owner_id"), value("department"), value("workgroup")
    )


@event.listens_for(Session, "before_flush")
def _remember_placements(session: Session, _context: Any, _instances: Any) -> None:
    """Keep each changed deal's placement at the start of the transaction, before a flush overwrites it."""
    before: dict[int, tuple[Deal, _Placement | None]] | None = session.info.get(_BEFORE)
    for deal in session.new:
        if isinstance(deal, Deal):
            before = before if before is not None else session.info.setdefault(_BEFORE, {})
            before.setdefault(id(deal), (deal, None))
    for deal in session.dirty:
        if isinstance(deal, Deal) and session.is_modified(deal):
            before = before if before is not None else session.info.setdefault(_BEFORE, {})
            before.setdefault(id(deal), (deal, _placement(deal, committed=True)))


@event.listens_for(Session, "before_commit")
def _write_board_changes(session: Session) -> None:
    """Flush, then log every remembered deal on the boards it left, stayed on or entered."""
    if not session.info.get(_BEFORE):
        return
    session.flush()
    remembered: dict[int, tuple[Deal, _Placement | None]] = session.info.pop(_BEFORE, {})
    rows_by_pipeline: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for deal, was in remembered.values():
        now = _placement(deal, committed=False)
        for pipeline_id in dict.fromkeys(p.pipeline_id for p in (was, now) if p is not None):
            row = _change_row(deal.id, pipeline_id, was, now)
            if row is not None:
                rows_by_pipeline[pipeline_id].append(row)

    for pipeline_id in sorted(rows_by_pipeline):
        rows = rows_by_pipeline[pipeline_id]
        last = _take_positions(session, pipeline_id, len(rows))
        for offset, row in enumerate(rows):
            row["position"] = last - len(rows) + 1 + offset
        session.execute(insert(BoardChange), rows)
        if session.get_bind().dialect.name == "postgresql":
            # Delivered to listeners when (and only if) the transaction commits.
            notify = text("SELECT pg_notify(:channel, :payload)")
            session.execute(notify, {"channel": NOTIFY_CHANNEL, "payload": str(pipeline_id)})
    session.info.setdefault(_CHANGED, set()).update(rows_by_pipeline)


def _change_row(
    deal_id: uuid.UUID, pipeline_id: uuid.UUID, was: _Placement | None, now: _Placement
) -> dict[str, Any] | None:
    was_present = was is not None and was.pipeline_id == pipeline_id and not was.deleted
    is_present = now.pipeline_id == pipeline_id and not now.deleted
    if not was_present and not is_present:
        return None  # a change of a deal that was deleted before and stays deleted
    return {
        "pipeline_id": pipeline_id,
        "deal_id": deal_id,
        "was_present": was_present,
        "was_owner_id": was.owner_id if was is not None and was_present else None,
        "was_department": was.department if was is not None and was_present else None,
        "was_workgroup": was.workgroup if was is not None and was_present else None,
        "is_present": is_present,
    }


def _take_positions(session: Session, pipeline_id: uuid.UUID, count: int) -> int:
    """Reserve ``count`` positions of the pipeline's log and return the last; the row stays locked."""
    dialect = session.get_bind().dialect.name
    insert_row = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(BoardPosition)
    statement = (
        insert_row.values(pipeline_id=pipeline_id, position=count)
        .on_conflict_do_update(
            index_elements=[BoardPosition.pipeline_id],
            set_={"position": BoardPosition.__table__.c.position + count},
        )
        .returning(BoardPosition.position)
    )
    return int(session.execute(statement).scalar_one())


@event.listens_for(Session, "after_commit")
def _wake_local_streams(session: Session) -> None:
    changed: set[uuid.UUID] | None = session.info.pop(_CHANGED, None)
    if changed:
        for callback in list(_local_listeners):
            callback(set(changed))


@event.listens_for(Session, "after_transaction_end")
def _forget_placements(session: Session, transaction: SessionTransaction) -> None:
    """Drop what a rolled-back (or finished) outer transaction remembered, so the next one starts clean."""
    if transaction.parent is None:
        session.info.pop(_BEFORE, None)
        session.info.pop(_CHANGED, None)


async def head_position(session: Any, pipeline_id: uuid.UUID) -> int:
    """Return the newest committed position of the pipeline's log, 0 before its first change."""
    position = await session.scalar(select(BoardPosition.position).where(BoardPosition.pipeline_id == pipeline_id))
    return int(position or 0)
