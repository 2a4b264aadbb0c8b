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


#: Domains whose ``workgroups`` field grants read access to the workgroup's members: a task's own
#: workgroup (tasks service) and a document's (documents service). On CRM records a workgroup only
#: narrows the department's access instead.
WORKGROUP_READER_DOMAINS = ("task", "document")
#: Domains whose ``department`` field grants nothing: the tasks service stores the owner's department on
#: a task but lets only its participants, workgroup and the readers of its deal see it.
NO_DEPARTMENT_DOMAINS = ("task",)


def access_filter(user: Principal) -> dict[str, Any]:
    """Return the filter of records ``user`` may read, deciding as the service that owns each record.

    A record is readable by its listed users, by everyone when public, and by its department. A record
    with a workgroup is readable by the department only for members of that workgroup, as CRM's
    ``department`` level decides. Tasks and documents are also readable by every member of their own
    workgroup. A task, conversation or client legal entity is also readable by the readers of its deal
    or company (the ``linked_*`` fields), under the same department and workgroup rule.

    NOTE: search reads only the role names in the token, not CRM's configured ``ACCESS_ROLES``, so it applies the
    default ``employee`` read level (``department``) to every user but admins. A user whose roles give
    a wider level in CRM (the default ``head`` role reads ``all``) finds fewer records here than CRM
    shows, and a narrower configured level would let search show more than CRM does.
    """
    if user.is_admin:
        return {"match_all": {}}
    allowed: list[dict[str, Any]] = [
        {"term": {"access_users": user.user_id}},
        {"term": {"linked_users": user.user_id}},
        {"term": {"public": True}},
    ]
    if user.department:
        own_department = _department_clause(user, "department", "workgroups")
        own_department["bool"]["must_not"] = [{"terms": {"type": list(NO_DEPARTMENT_DOMAINS)}}]
        allowed.append(own_department)
        allowed.append(_department_clause(user, "linked_department", "linked_workgroups"))
    if user.workgroups:
        allowed.append(
            {
                "bool": {
                    "filter": [
                        {"terms": {"type": list(WORKGROUP_READER_DOMAINS)}},
                        {"terms": {"workgroups": user.workgroups}},
                    ]
                }
            }
        )
    return {"bool": {"should": allowed, "minimum_should_match": 1}}


def _department_clause(user: Principal, department_field: str, workgroup_field: str) -> dict[str, Any]:
    """Match records of the user's department that have no workgroup or one the user is a member of."""
    member: list[dict[str, Any]] = [{"bool": {"must_not": [{"exists": {"field": workgroup_field}}]}}]
    if user.workgroups:
        member.append({"terms": {workgroup_field: user.workgroups}})
    return {
        "bool": {
            "filter": [
                {"term": {department_field: user.department}},
                {"bool": {"should": member, "minimum_should_match": 1}},
            ]
        }
    }


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
