"""Visibility of projected tasks, documents and files in CRM's workspace, by the owning service's rules."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from servicekit.auth import Principal
from services.crm.views import _projected_restriction

pytestmark = pytest.mark.unit

SALES = Principal(user_id="u-sales", department="sales")
WG_SALES = Principal(user_id="u-wg", department="sales", workgroups=["wg-x"])
WG_SUPPORT = Principal(user_id="u-wgs", department="support", workgroups=["wg-x"])
ADMIN = Principal(user_id="u-admin", roles=["admin"])
OWNER = Principal(user_id="u-owner", department="support")


def row(*, workgroup: str | None = None, department: str | None = "sales") -> SimpleNamespace:
    return SimpleNamespace(id=uuid.uuid4(), owner_id="u-owner", department=department, workgroup=workgroup)


@pytest.mark.parametrize(
    ("user", "entity", "record", "visible"),
    [
        (SALES, "task", row(), False),  # a task's department opens nothing
        (WG_SALES, "task", row(workgroup="wg-x"), True),
        (WG_SUPPORT, "task", row(workgroup="wg-x"), True),
        (SALES, "task", row(workgroup="wg-x"), False),
        (SALES, "document", row(), True),
        (SALES, "document", row(workgroup="wg-x"), False),
        (WG_SALES, "document", row(workgroup="wg-x"), True),
        (SALES, "file", row(department="support"), False),
        (SALES, "file", row(), True),
        (ADMIN, "task", row(workgroup="wg-x"), True),
        (OWNER, "document", row(workgroup="wg-x"), True),
    ],
)
def test_projected_record_visibility(user: Principal, entity: str, record: SimpleNamespace, visible: bool) -> None:
    reason = _projected_restriction(user, entity, record)
    assert (reason is None) == visible, reason


def test_workgroup_reason_names_workgroup() -> None:
    assert _projected_restriction(SALES, "task", row(workgroup="wg-x")) == "the task belongs to workgroup 'wg-x'"
