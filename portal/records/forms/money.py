"""Money pieces some kinds share but not all: the bank account money moves through, and a
total that must be above zero. (What every kind uses lives in `base`.)"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from portal.records.forms.base import RecordForm
from portal.records.forms.fields import BANK_ACCOUNT_TYPES, ReferenceField


def bank_account_field(*, label: str, help_text: str) -> ReferenceField:
    """The company's bank or credit-card account a refund is paid from or a deposit goes to."""
    return ReferenceField(
        label=label,
        reference="accounts",
        company_scoped=True,
        account_types=BANK_ACCOUNT_TYPES,
        help_text=help_text,
    )


class PositiveTotalForm(RecordForm):
    """A header form whose lines are priced: lines adding up to nothing (or less) are refused
    as a whole, with `zero_total_message` saying which values to raise. A line whose amount
    cannot be computed counts as zero."""

    zero_total_message: str

    def clean_with_lines(self, lines: list[dict[str, Any]], amounts: list[Decimal | None]) -> None:
        super().clean_with_lines(lines, amounts)
        total = sum((amount or Decimal(0) for amount in amounts), Decimal(0))
        if lines and total <= 0:
            self.add_error(None, self.zero_total_message)
