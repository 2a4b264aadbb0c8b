"""Pipeline rules without I/O: typed custom fields, fields required to enter a stage, and exit conditions."""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, Field

FieldType = Literal["text", "number", "money", "date", "choice", "yes_no", "user"]

#: Deal attributes that stage rules may name besides the pipeline's custom fields.
STANDARD_FIELDS = frozenset(
    {
        "amount",
        "currency",
        "owner_id",
        "company_id",
        "contact_ids",
        "primary_contact_id",
        "client_legal_entity_id",
        "our_legal_entity_id",
        "project_id",
        "next_step",
        "next_step_due_at",
        "description",
    }
)

#: Value types of the standard deal fields, which decide what an exit condition's ``equals`` may be.
STANDARD_FIELD_TYPES: dict[str, str] = {
    "amount": "amount",
    "currency": "currency",
    "owner_id": "text",
    "company_id": "id",
    "contact_ids": "id_list",
    "primary_contact_id": "id",
    "client_legal_entity_id": "id",
    "our_legal_entity_id": "id",
    "project_id": "id",
    "next_step": "text",
    "next_step_due_at": "date_time",
    "description": "text",
}

MAX_TEXT = 10000


class ExitCondition(BaseModel):
    """A condition that must hold before a deal may leave a stage: ``field`` is set, or equals ``equals``."""

    field: str = Field(min_length=1, max_length=100)
    equals: Any = Field(default=None, description="Required value; unset means the field only has to be filled.")


@dataclass(frozen=True)
class FieldSpec:
    key: str
    type: str
    options: tuple[str, ...] = ()


FieldError = tuple[str, str]


def coerce_value(spec: FieldSpec, value: Any) -> Any:
    """Return ``value`` as stored for a field of ``spec.type``; raise ``ValueError`` saying what is expected."""
    kind = spec.type
    if kind in ("text", "user"):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"expected a non-empty string for a {kind} field")
        if len(value) > MAX_TEXT:
            raise ValueError(f"expected at most {MAX_TEXT} characters")
        return value.strip() if kind == "user" else value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError("expected a finite number")
        return value
    if kind == "yes_no":
        if not isinstance(value, bool):
            raise ValueError("expected true or false")
        return value
    if kind == "choice":
        if value not in spec.options:
            raise ValueError(f"expected one of {list(spec.options)}")
        return value
    if kind == "date":
        try:
            return date.fromisoformat(value).isoformat()
        except (TypeError, ValueError):
            raise ValueError("expected a date as YYYY-MM-DD") from None
    if kind == "money":
        return _coerce_money(value)
    raise ValueError(f"unknown field type {kind!r}")


def _coerce_money(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or set(value) != {"amount", "currency"}:
        raise ValueError('expected {"amount": "123.45", "currency": "EUR"}')
    try:
        amount = Decimal(str(value["amount"]))
    except InvalidOperation:
        raise ValueError("expected a decimal amount") from None
    if not amount.is_finite() or amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError("expected an amount with at most two decimal places")
    if not isinstance(value["currency"], str) or not re.fullmatch(r"[A-Z]{3}", value["currency"]):
        raise ValueError("expected a currency as three capital letters (ISO 4217)")
    return {"amount": str(amount), "currency": value["currency"]}


def validate_custom_fields(
    specs: dict[str, FieldSpec], current: dict[str, Any], changes: dict[str, Any]
) -> tuple[dict[str, Any], list[FieldError]]:
    """Merge ``changes`` into ``current``; a value of None clears the field. Return the values and errors."""
    values = dict(current)
    errors: list[FieldError] = []
    for key, value in changes.items():
        name = f"custom_fields.{key}"
        spec = specs.get(key)
        if spec is None:
            errors.append((name, f"the pipeline has no custom field {key!r}"))
        elif value is None:
            values.pop(key, None)
        else:
            try:
                values[key] = coerce_value(spec, value)
            except ValueError as exc:
                errors.append((name, str(exc)))
    return values, errors


def exit_value(key: str, equals: Any, specs: dict[str, FieldSpec]) -> Any:
    """Return ``equals`` of an exit condition on ``key`` as stored; raise ``ValueError`` if no deal can match it.

    ``key`` names a standard deal field or a custom field in ``specs``. A value of another type, such as
    ``{"a": 1}`` for ``amount``, is rejected here instead of blocking every move out of the stage.
    """
    kind = STANDARD_FIELD_TYPES.get(key)
    if kind is None:
        spec = specs.get(key)
        if spec is None:
            raise ValueError(f"{key!r} is neither a deal field nor a custom field of the pipeline")
        return coerce_value(spec, equals)
    if kind == "amount":
        return _coerce_amount(equals)
    if kind == "currency":
        if not isinstance(equals, str) or not re.fullmatch(r"[A-Z]{3}", equals):
            raise ValueError("expected a currency as three capital letters (ISO 4217)")
        return equals
    if kind == "text":
        return coerce_value(FieldSpec(key, "text"), equals)
    if kind == "id":
        return _coerce_id(equals)
    if kind == "id_list":
        if not isinstance(equals, list) or not equals:
            raise ValueError("expected a non-empty list of contact ids")
        return sorted({_coerce_id(item) for item in equals})
    raise ValueError(f"an exit condition may only require {key} to be filled, so leave out equals")


def _coerce_amount(value: Any) -> str:
    amount = None
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            amount = None
    if amount is None or not amount.is_finite() or amount < 0 or amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError('expected an amount of at least 0 with at most two decimal places, such as "1500.00"')
    return str(amount)


def _coerce_id(value: Any) -> str:
    try:
        return str(uuid.UUID(value))
    except (TypeError, ValueError, AttributeError):
        raise ValueError("expected a record id (UUID)") from None


def exit_value_matches(value: Any, expected: Any) -> bool:
    """Return whether a deal's ``value`` equals an exit condition's ``expected`` value as stored."""
    if isinstance(value, bool) or isinstance(expected, bool):
        return value is expected
    if isinstance(value, Decimal | int | float) and isinstance(expected, str | int | float):
        return _same_amount(value, expected)
    if isinstance(value, dict) and isinstance(expected, dict) and set(value) == set(expected) == {"amount", "currency"}:
        return value["currency"] == expected["currency"] and _same_amount(value["amount"], expected["amount"])
    return bool(_comparable(value) == _comparable(expected))


def _same_amount(value: Any, expected: Any) -> bool:
    try:
        return Decimal(str(value)) == Decimal(str(expected))
    except InvalidOperation:
        return False


def _comparable(value: Any) -> Any:
    """Return ids as lowercase strings and a list of ids as a sorted list, the form ``exit_value`` stores."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list):
        return sorted({str(item).lower() for item in value})
    return value


def is_filled(value: Any) -> bool:
    return value is not None and value not in ("", [], {})


def missing_to_enter(required: list[str], values: dict[str, Any], stage_name: str) -> list[FieldError]:
    """Name each field that ``stage_name`` requires and ``values`` lacks."""
    return [
        (_field_name(key), f"required to enter stage {stage_name!r}")
        for key in required
        if not is_filled(values.get(key))
    ]


def unmet_exit_conditions(
    conditions: list[dict[str, Any]], values: dict[str, Any], stage_name: str
) -> list[FieldError]:
    """Name each exit condition of ``stage_name`` that ``values`` do not meet."""
    errors: list[FieldError] = []
    for raw in conditions:
        condition = ExitCondition.model_validate(raw)
        value = values.get(condition.field)
        if condition.equals is None and not is_filled(value):
            errors.append(
                (_field_name(condition.field), f"stage {stage_name!r} may not be left until this field is filled")
            )
        elif condition.equals is not None and not exit_value_matches(value, condition.equals):
            errors.append(
                (
                    _field_name(condition.field),
                    f"stage {stage_name!r} may not be left until this field equals {condition.equals!r}",
                )
            )
    return errors


def _field_name(key: str) -> str:
    return key if key in STANDARD_FIELDS else f"custom_fields.{key}"


def unknown_rule_fields(keys: list[str], custom_keys: set[str]) -> list[str]:
    """Return the keys that name neither a standard deal field nor a custom field of the pipeline."""
    return [key for key in keys if key not in STANDARD_FIELDS and key not in custom_keys]
