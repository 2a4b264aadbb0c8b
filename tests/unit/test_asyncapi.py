import json

import pytest

from servicekit.asyncapi import render_asyncapi
from servicekit.cli import ASYNCAPI_DIR
from services import SERVICE_NAMES

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_committed_asyncapi_matches_code(service: str) -> None:
    committed = ASYNCAPI_DIR / f"{service}.json"
    assert committed.exists(), f"{committed} is missing; run 'clientwork asyncapi all'"
    assert json.loads(committed.read_text(encoding="utf-8")) == json.loads(render_asyncapi(service)), (
        f"{committed} is stale; run 'clientwork asyncapi all' and commit the result"
    )


def test_asyncapi_documents_deal_events() -> None:
    document = json.loads(render_asyncapi("crm"))
    assert document["asyncapi"] == "3.0.0"
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert {"crm.deals", "intake.requests"} <= addresses
