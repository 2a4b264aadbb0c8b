"""Access levels per role and action, and how a linked record looks to someone who may not see it."""

from __future__ import annotations

import uuid

import pytest

from servicekit.auth import Principal
from servicekit.errors import PermissionDenied
from services.documents.access import linked_record
from services.documents.settings import DocumentsSettings
from services.documents.tables import DealReference, Document

pytestmark = pytest.mark.unit

POLICY = DocumentsSettings().access_policy


def document(owner: str = "u-owner", department: str | None = "sales", workgroup: str | None = None) -> Document:
    return Document(id=uuid.uuid4(), owner_id=owner, department=department, workgroup=workgroup)


def user(
    user_id: str = "u-1", department: str | None = "sales", *roles: str, workgroups: list[str] | None = None
) -> Principal:
    return Principal(user_id=user_id, department=department, roles=list(roles), workgroups=workgroups or [])


def test_department_reads_but_only_owner_deletes() -> None:
    record = document()

    assert POLICY.allows(user(), "read", record)
    assert not POLICY.allows(user(), "delete", record)
    assert POLICY.allows(user("u-owner"), "delete", record)


def test_other_department_may_not_read() -> None:
    assert not POLICY.allows(user(department="support"), "read", document())


def test_admin_and_lawyer_read_everything() -> None:
    assert POLICY.allows(user("u-9", "support", "admin"), "delete", document())
    assert POLICY.allows(user("u-9", "support", "lawyer"), "read", document())


def test_override_needs_a_role() -> None:
    assert not POLICY.allows(user("u-owner"), "override_check", document())
    assert POLICY.allows(user("u-2", "sales", "lawyer"), "override_check", document())


def test_workgroup_record_needs_membership() -> None:
    record = document(workgroup="tender-team")

    assert not POLICY.allows(user(), "read", record, record.workgroup)
    assert POLICY.allows(user(workgroups=["tender-team"]), "read", record, record.workgroup)


def test_forbidden_names_owner() -> None:
    record = document()

    with pytest.raises(PermissionDenied) as raised:
        POLICY.require(user(department="support"), "read", record, kind="document", record_id=record.id)

    assert raised.value.details["status"] == "restricted"
    assert raised.value.details["owner"] == "u-owner"
    assert "department sales" in raised.value.details["reason"]


def test_restricted_link_hides_title() -> None:
    deal_id = uuid.uuid4()
    deal = DealReference(deal_id=deal_id, title="Secret", owner_id="u-boss", department="board", deleted=False)

    link = linked_record(POLICY, user(), kind="deal", record_id=deal_id, record=deal, name=deal.title)

    assert link.status == "restricted"
    assert link.name is None
    assert link.owner == "u-boss"


def test_visible_and_missing_links() -> None:
    deal_id = uuid.uuid4()
    deal = DealReference(deal_id=deal_id, title="Open", owner_id="u-2", department="sales", deleted=False)

    assert linked_record(POLICY, user(), kind="deal", record_id=deal_id, record=deal, name="Open").name == "Open"
    assert linked_record(POLICY, user(), kind="deal", record_id=deal_id, record=None, name=None).status == "not_found"
