"""Document events stay under Kafka's message size, trimming old findings and long comments only when needed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.documents.handlers import EVENT_BUDGET_BYTES, document_state, event_state
from services.documents.tables import Document, DocumentComment, DocumentVersion

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 4, tzinfo=UTC)


def finding(number: int) -> dict[str, object]:
    return {
        "kind": "insertion",
        "part": "word/document.xml",
        "location": f"paragraph {number}",
        "author": "Olga",
        "text": "x" * 200,
    }


def document(versions: int, findings: int, comments: int, comment_chars: int) -> Document:
    record = Document(id=uuid.uuid4(), kind="contract", title="Big", owner_id="u-1", deleted=False)
    record.versions = [
        DocumentVersion(
            id=uuid.uuid4(),
            number=number,
            author_id="u-1",
            uploaded_at=NOW,
            size=10,
            media_type="application/pdf",
            sha256="0" * 64,
            file_name="a.pdf",
            findings=[finding(n) for n in range(findings)],
        )
        for number in range(1, versions + 1)
    ]
    record.comments = [
        DocumentComment(
            id=uuid.uuid4(), author_id="u-1", visibility="internal", body="y" * comment_chars, created_at=NOW
        )
        for _ in range(comments)
    ]
    record.sends = []
    return record


def test_small_document_is_whole() -> None:
    record = document(versions=3, findings=5, comments=2, comment_chars=100)

    assert event_state(record) == document_state(record)
    assert event_state(record).trimmed is False


def test_large_document_is_trimmed() -> None:
    record = document(versions=30, findings=100, comments=60, comment_chars=10_000)
    assert len(document_state(record).model_dump_json()) > EVENT_BUDGET_BYTES

    state = event_state(record)

    assert state.trimmed is True
    assert len(state.model_dump_json()) <= EVENT_BUDGET_BYTES
    assert [len(version.findings) for version in state.versions] == [0] * 25 + [100] * 5
    assert state.versions[0].internal_findings == [
        "100 comments, tracked changes or annotations; the documents API lists them"
    ]
    assert {len(comment.body) for comment in state.comments} == {500}
