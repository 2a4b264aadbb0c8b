"""OpenSearch request bodies: the access filter, the text query, pagination cursors and suggestions.

The access filter sits inside every query, so hits, totals, highlights, aggregations and suggestions
are all computed over readable records only.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from servicekit.auth import Principal
from servicekit.errors import ValidationFailed
from services.search.normalize import query_identifiers

TEXT_FIELDS = ["title^3", "names^2", "body"]
PREFIX_FIELDS = ["title.prefix", "names.prefix"]
HIGHLIGHT_FIELDS = ("title", "names", "body")
#: ``uid`` breaks ties between equal scores, so ``search_after`` pages of an unchanged index neither
#: skip nor repeat a hit.
SORT: list[dict[str, Any]] = [{"_score": "desc"}, {"uid": "asc"}]


def access_filter(user: Principal) -> dict[str, Any]:
    """Return the filter of records ``user`` may read.

    Those are the user's own, their department's and workgroups', public ones, and the tasks of deals
    that the user may read in one of these ways.
    """
    if user.is_admin:
        return {"match_all": {}}
    allowed: list[dict[str, Any]] = [
        {"term": {"access_users": user.user_id}},
        {"term": {"linked_users": user.user_id}},
        {"term": {"public": True}},
    ]
    if user.department:
        allowed.append({"term": {"department": user.department}})
        allowed.append({"term": {"linked_department": user.department}})
    if user.workgroups:
        allowed.append({"terms": {"workgroups": user.workgroups}})
        allowed.append({"terms": {"linked_workgroups": user.workgroups}})
    return {"bool": {"should": allowed, "minimum_should_match": 1}}


def text_query(text: str) -> dict[str, Any]:
    """Match ``text`` as words (stemmed), as name prefixes, and as a normalized phone, e-mail or tax id."""
    should: list[dict[str, Any]] = [
        {"multi_match": {"query": text, "type": "cross_fields", "operator": "and", "fields": TEXT_FIELDS}},
        {"multi_match": {"query": text, "operator": "and", "fields": PREFIX_FIELDS, "boost": 0.5}},
        {"term": {"custom": {"value": text.lower()[:256]}}},
    ]
    for field, values in query_identifiers(text).items():
        if values:
            should.append({"terms": {field: sorted(values), "boost": 5}})
    return {"bool": {"should": should, "minimum_should_match": 1}}


def search_body(user: Principal, text: str, limit: int, cursor: list[Any] | None) -> dict[str, Any]:
    """Build the request of one page of hits, their highlights and the readable counts per type."""
    body: dict[str, Any] = {
        "query": {"bool": {"must": [text_query(text)], "filter": [access_filter(user)]}},
        "size": limit,
        "sort": SORT,
        "track_total_hits": True,
        "highlight": {
            # Escape the record's own text, so that only the <em> tags of the highlight are markup.
            "encoder": "html",
            "require_field_match": False,
            "fields": {field: {} for field in HIGHLIGHT_FIELDS},
        },
        "aggs": {"types": {"terms": {"field": "type", "size": 20}}},
        "_source": ["type", "id", "title", "status", "link"],
    }
    if cursor is not None:
        body["search_after"] = cursor
    return body


def suggest_body(user: Principal, text: str, limit: int) -> dict[str, Any]:
    """Build a filtered prefix query on titles and names for the search box.

    A completion suggester would be faster but cannot filter on arbitrary access fields, so it would
    suggest titles of hidden records.
    """
    return {
        "query": {
            "bool": {
                "must": [{"multi_match": {"query": text, "operator": "and", "fields": PREFIX_FIELDS}}],
                "filter": [access_filter(user)],
            }
        },
        "size": limit,
        "sort": SORT,
        "_source": ["type", "id", "title", "link"],
    }


def encode_cursor(sort_values: list[Any]) -> str:
    """Return the opaque cursor that continues after a hit with these sort values."""
    return base64.urlsafe_b64encode(json.dumps(sort_values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    """Return the sort values in ``cursor``; raise ValidationFailed naming the field when it is not ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("cursor is invalid: pass the next_cursor of a previous page", field="cursor") from exc
    valid = (
        isinstance(values, list)
        and len(values) == len(SORT)
        and isinstance(values[0], int | float)
        and isinstance(values[1], str)
    )
    if not valid:
        raise ValidationFailed("cursor is invalid: pass the next_cursor of a previous page", field="cursor")
    sort_values: list[Any] = values
    return sort_values
