"""The token command's argument checks."""

from __future__ import annotations

import pytest

from servicekit.cli import build_parser

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("option", ["--user", "--name", "--department"])
def test_token_rejects_empty_claims(option: str, capsys: pytest.CaptureFixture[str]) -> None:
    arguments = ["token", "--user", "u-1", option, "  "]
    with pytest.raises(SystemExit):
        build_parser().parse_args(arguments)
    assert f"argument {option}: must not be empty" in capsys.readouterr().err


def test_token_strips_user_id() -> None:
    parsed = build_parser().parse_args(["token", "--user", " u-1 ", "--department", "sales"])
    assert parsed.user == "u-1"
    assert parsed.department == "sales"
