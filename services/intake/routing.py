"""Routing: which pipeline, stage, owner and department an inquiry gets, and why."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.intake.forms import Condition, FormConfig, OwnerChoice
from services.intake.normalize import normalize_key


@dataclass(frozen=True)
class RoutingContext:
    """What rules can look at."""

    fields: dict[str, str]
    utm: dict[str, str]
    source: str
    channel: str | None
    form_key: str | None


@dataclass(frozen=True)
class RoutingDecision:
    pipeline_key: str | None
    stage_key: str | None
    owner_id: str | None
    reason: str
    department: str | None = None


def route(
    config: FormConfig | None,
    context: RoutingContext,
    round_robin: dict[str, Any],
    *,
    channel_department: str | None = None,
) -> RoutingDecision:
    """Apply the first matching rule over the form's defaults; advance ``round_robin`` when it picks an owner.

    The department comes from the matching rule, else from the channel (``channel_department``), else
    from the form. None leaves the choice to CRM's default department of inquiry deals.
    """
    if config is None:
        return RoutingDecision(None, None, None, "no form settings: CRM's default pipeline", channel_department)
    default_department = channel_department or config.department
    for rule in config.rules:
        if all(_holds(condition, context) for condition in rule.when):
            owner = _owner(rule.owner or config.owner, round_robin, f"rule:{rule.name}" if rule.owner else "form")
            return RoutingDecision(
                rule.pipeline_key or config.pipeline_key,
                rule.stage_key or (config.stage_key if rule.pipeline_key is None else None),
                owner,
                f"rule {rule.name!r}",
                rule.department or default_department,
            )
    return RoutingDecision(
        config.pipeline_key,
        config.stage_key,
        _owner(config.owner, round_robin, "form"),
        "form settings",
        default_department,
    )


def _owner(choice: OwnerChoice, round_robin: dict[str, Any], group_key: str) -> str | None:
    if choice.mode == "fixed":
        return choice.user_id
    if choice.mode == "round_robin" and choice.group:
        position = int(round_robin.get(group_key, 0)) % len(choice.group)
        round_robin[group_key] = position + 1
        return choice.group[position]
    return None


def _holds(condition: Condition, context: RoutingContext) -> bool:
    actual = _value(condition, context)
    if condition.op == "exists" or actual is None:
        return bool(actual)
    expected = condition.value
    if condition.op == "in":
        options = expected if isinstance(expected, list) else [expected or ""]
        return actual.casefold() in {option.casefold() for option in options}
    if not isinstance(expected, str):
        return False
    return _TESTS[condition.op](actual, expected)


_TESTS: dict[str, Callable[[str, str], bool]] = {
    "equals": lambda actual, expected: actual.casefold() == expected.casefold(),
    "contains": lambda actual, expected: expected.casefold() in actual.casefold(),
    "matches": lambda actual, expected: re.search(expected, actual, flags=re.IGNORECASE) is not None,
}


def _value(condition: Condition, context: RoutingContext) -> str | None:
    if condition.on == "source":
        return context.source
    if condition.on == "channel":
        return context.channel
    if condition.on == "form":
        return context.form_key
    key = normalize_key(condition.key or "")
    if condition.on == "utm":
        key = key if key.startswith("utm_") else "utm_" + key
        return next((value for name, value in context.utm.items() if normalize_key(name) == key), None)
    return next((value for name, value in context.fields.items() if normalize_key(name) == key), None)
