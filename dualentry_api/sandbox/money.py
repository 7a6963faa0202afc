"""Decimal helpers: the API sends amounts as decimal strings and accepts numbers or strings."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")


def to_decimal(value: Any, default: str = "0") -> Decimal:
    if value is None or value == "":
        return Decimal(default)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(default)


def money(value: Any) -> Decimal:
    """A money amount rounded half-up to cents."""
    return to_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def money_text(value: Any) -> str:
    return f"{money(value):f}"


def plain_text(value: Any, places: int | None = None) -> str:
    """A decimal as plain text (no exponent), optionally rounded to ``places``."""
    number = to_decimal(value)
    if places is not None:
        number = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = f"{number:f}"
    if "." in text and places is None:
        text = text.rstrip("0").rstrip(".") or "0"
    return text
