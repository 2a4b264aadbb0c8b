"""Index settings and the one explicit mapping that every domain index uses."""

from __future__ import annotations

from typing import Any

#: Text analysis for Russian and English together: each stemmer leaves the other alphabet alone, so
#: "договорами" and "договор" meet at "договор" and "contracts" and "contract" at "contract".
ANALYSIS: dict[str, Any] = {
    "filter": {
        "russian_stemmer": {"type": "stemmer", "language": "russian"},
        "english_stemmer": {"type": "stemmer", "language": "english"},
        "name_prefixes": {"type": "edge_ngram", "min_gram": 1, "max_gram": 20},
    },
    "char_filter": {
        # Russian text is written with and without the letter ё; both forms must match.
        "yo_to_ye": {"type": "mapping", "mappings": ["ё => е", "Ё => Е"]},
    },
    "analyzer": {
        "ru_en": {
            "type": "custom",
            "tokenizer": "standard",
            "char_filter": ["yo_to_ye"],
            "filter": ["lowercase", "russian_stemmer", "english_stemmer"],
        },
        "prefix_index": {
            "type": "custom",
            "tokenizer": "standard",
            "char_filter": ["yo_to_ye"],
            "filter": ["lowercase", "name_prefixes"],
        },
        "prefix_search": {
            "type": "custom",
            "tokenizer": "standard",
            "char_filter": ["yo_to_ye"],
            "filter": ["lowercase"],
        },
    },
    "normalizer": {"lowercase": {"type": "custom", "filter": ["lowercase"]}},
}

_NAME_TEXT: dict[str, Any] = {
    "type": "text",
    "analyzer": "ru_en",
    "fields": {
        "prefix": {"type": "text", "analyzer": "prefix_index", "search_analyzer": "prefix_search"},
        "raw": {"type": "keyword", "ignore_above": 256},
    },
}

#: ``dynamic: strict`` makes a write with an unknown field fail loudly instead of growing the mapping;
#: tenant-defined fields go into ``custom`` as ``name=value`` keywords.
MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "type": {"type": "keyword"},
        "id": {"type": "keyword"},
        "uid": {"type": "keyword"},
        "title": _NAME_TEXT,
        "names": _NAME_TEXT,
        "body": {"type": "text", "analyzer": "ru_en"},
        "phones": {"type": "keyword"},
        "emails": {"type": "keyword", "normalizer": "lowercase"},
        "tax_ids": {"type": "keyword"},
        "custom": {"type": "keyword", "ignore_above": 256, "normalizer": "lowercase"},
        "status": {"type": "keyword"},
        "related": {"type": "keyword"},
        "access_users": {"type": "keyword"},
        "department": {"type": "keyword"},
        "workgroups": {"type": "keyword"},
        "public": {"type": "boolean"},
        # Readers of a linked record, such as a task's deal; kept apart so they can be rewritten alone.
        "linked_users": {"type": "keyword"},
        "linked_department": {"type": "keyword"},
        "linked_workgroups": {"type": "keyword"},
        "link": {"type": "object", "enabled": False},
        "occurred_at": {"type": "date"},
    },
}

#: Refresh interval while serving; a rebuild loads with -1 and restores this.
REFRESH_INTERVAL = "1s"


def index_body(*, loading: bool = False) -> dict[str, Any]:
    """Return the settings and mappings of a new domain index; ``loading`` turns refresh off for a bulk load."""
    return {
        "settings": {
            "number_of_shards": 1,
            "number_of_replicas": 0,
            "refresh_interval": "-1" if loading else REFRESH_INTERVAL,
            # A delete leaves a version tombstone for this long; an event older than the delete that
            # arrives later than this would bring the record back.
            "gc_deletes": "1h",
            "analysis": ANALYSIS,
        },
        "mappings": MAPPING,
    }
