"""Unit tests of the read model's upserts, search text, account keying and write-through."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import pytest
from django.utils import timezone

from dualentry_api.records import Record
from portal.readmodel import services
from portal.readmodel.account import account_fingerprint, current_account
from portal.readmodel.models import MirroredRecord
from portal.readmodel.registry import spec_for
from portal.readmodel.selectors import mirrored_records

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def refund(number: int, **changes) -> dict:
    return {
        "number": number,
        "internal_id": 9000 + number,
        "company_id": 1,
        "company_name": "Northwind Analytics Inc.",
        "customer_id": 112,
        "customer_name": "Lakeside Veterinary Clinic",
        "date": "2026-06-28",
        "transaction_date": "2026-06-27",
        "currency_iso_4217_code": "USD",
        "amount": "12000.00",
        "record_status": "draft",
        "memo": "Refund of overpayment",
        "updated_by": {"timestamp": "2026-06-28T11:56:00Z"},
        "items": [{"amount": "12000.00", "customer_credit_number": 31}],
        **changes,
    }


def upsert(kind: str, *records, account: str = "acct", seen_at=NOW) -> services.UpsertResult:
    return services.records_upsert(
        spec=spec_for(kind), account=account, items=list(records), seen_at=seen_at
    )


def test_upsert_inserts_with_indexed_columns_and_the_whole_record():
    result = upsert("refunds", refund(1001))
    assert (result.seen, result.changed, result.unchanged) == (1, 1, 0)
    row = MirroredRecord.objects.get(account="acct", kind="refunds", key="1001")
    assert row.amount == Decimal("12000.00")
    assert row.date == dt.date(2026, 6, 28)
    assert row.second_date == dt.date(2026, 6, 27)
    assert (row.status, row.customer_id, row.company_id) == ("draft", 112, 1)
    assert row.upstream_updated_at == dt.datetime(2026, 6, 28, 11, 56, tzinfo=dt.UTC)
    assert row.data["items"] == [{"amount": "12000.00", "customer_credit_number": 31}]
    assert row.remaining is None


def test_upserting_the_same_answer_again_writes_nothing():
    upsert("refunds", refund(1001), refund(1002))
    later = NOW + dt.timedelta(minutes=5)
    result = upsert("refunds", refund(1001), refund(1002), seen_at=later)
    assert (result.changed, result.unchanged) == (0, 2)
    row = MirroredRecord.objects.get(kind="refunds", key="1001")
    assert row.changed_at == NOW  # untouched copy
    assert row.seen_at == later  # but seen again


def test_a_changed_record_is_updated_and_counted():
    upsert("refunds", refund(1001), refund(1002))
    result = upsert("refunds", refund(1001, memo="Edited", record_status="posted"), refund(1002))
    assert (result.changed, result.unchanged) == (1, 1)
    row = MirroredRecord.objects.get(kind="refunds", key="1001")
    assert (row.memo, row.status) == ("Edited", "posted")
    assert MirroredRecord.objects.count() == 2


def test_an_answer_older_than_the_copy_does_not_overwrite_it():
    newer = {"timestamp": "2026-06-28T12:30:00Z"}
    services.mirror_record(kind="refunds", record=refund(1001, memo="Saved", updated_by=newer))
    account = current_account()
    result = upsert("refunds", refund(1001, memo="Read before the save"), account=account)
    assert (result.changed, result.unchanged) == (0, 1)
    assert mirrored_records(kind="refunds").get(key="1001").memo == "Saved"


def test_credits_keep_remaining_and_used_amounts():
    upsert("credits", refund(7, remaining_amount="250.50", used_amount="749.50", amount="1000"))
    row = MirroredRecord.objects.get(kind="credits", key="7")
    assert (row.remaining, row.used) == (Decimal("250.50"), Decimal("749.50"))


def test_search_text_has_amounts_written_the_ways_people_type_them():
    upsert("refunds", refund(1001))
    text = MirroredRecord.objects.get(key="1001").search_text
    for spelling in ("12000", "12000.00", "12,000.00", "12 000,00", "1001", "lakeside", "overpay"):
        assert spelling in text


def test_amount_spellings_of_a_fraction_do_not_claim_a_whole_number():
    assert services.amount_spellings(Decimal("1234.5")) == [
        "1234.5",
        "1234.50",
        "1,234.50",
        "1 234,50",
    ]


def test_a_record_that_cannot_be_read_is_logged_with_its_number_and_skipped(caplog):
    with caplog.at_level(logging.WARNING, logger="portal.readmodel"):
        result = upsert("refunds", refund(1001, amount="twelve"), refund(1002), "not a record")
    assert (result.seen, result.skipped) == (1, 2)
    assert list(MirroredRecord.objects.values_list("key", flat=True)) == ["1002"]
    assert "refunds 1001" in caplog.text


def test_contract_details_survive_list_answers_that_lack_them():
    contract = {
        "id": 55,
        "number": "CT-55",
        "name": "Support plan",
        "status": "active",
        "amount": "900.00",
        "start_date": "2026-01-01",
        "end_date": "2026-12-31",
    }
    obligations = [{"id": 1, "amount": "900.00"}]
    services.records_upsert(
        spec=spec_for("contracts"),
        account="acct",
        items=[
            {**contract, "obligations": obligations, "obligation_usage": [], "customer_credits": []}
        ],
        seen_at=NOW,
        with_detail=True,
    )
    row = MirroredRecord.objects.get(kind="contracts", key="55")
    assert not row.needs_detail
    result = upsert("contracts", contract)  # the list answer: no obligations
    assert result.unchanged == 1
    upsert("contracts", {**contract, "status": "terminated"})
    row.refresh_from_db()
    assert row.status == "terminated"
    assert row.data["obligations"] == obligations  # kept from the detail
    assert row.needs_detail  # and re-read on the next sync
    assert (row.second_date, row.end_date) == (dt.date(2026, 1, 1), dt.date(2026, 12, 31))


def test_removed_records_are_hidden_until_seen_again(settings):
    account = current_account()
    upsert("refunds", refund(1001), refund(1002), account=account)
    assert services.mirror_removed(kind="refunds", key=1001)
    assert not services.mirror_removed(kind="refunds", key=1001)  # already marked
    assert [row.key for row in mirrored_records(kind="refunds")] == ["1002"]
    upsert("refunds", refund(1001), account=account)
    assert {row.key for row in mirrored_records(kind="refunds")} == {"1001", "1002"}


def test_write_through_copies_the_answer_of_a_write_at_once():
    answer = Record(refund(1042, memo="Saved in the portal"))
    assert services.mirror_record(kind="refunds", record=answer)
    assert not services.mirror_record(kind="refunds", record=answer)  # same answer again
    row = mirrored_records(kind="refunds").get(key="1042")
    assert row.memo == "Saved in the portal"
    assert row.data["amount"] == "12000.00"


def test_another_account_never_sees_the_first_accounts_copy(settings):
    settings.DUALENTRY_API_URL = "https://one.example"
    settings.DUALENTRY_API_KEY = "key-one"
    services.mirror_record(kind="refunds", record=refund(1001))
    assert mirrored_records(kind="refunds").count() == 1
    settings.DUALENTRY_API_URL = "https://two.example"
    assert mirrored_records(kind="refunds").count() == 0
    settings.DUALENTRY_API_URL = "https://one.example"
    settings.DUALENTRY_API_KEY = "key-two"
    assert mirrored_records(kind="refunds").count() == 0
    settings.DUALENTRY_API_KEY = "key-one"
    assert mirrored_records(kind="refunds").count() == 1


def test_the_account_fingerprint_never_contains_the_key():
    fingerprint = account_fingerprint("https://api.example/public/v2/", "secret-key-123")
    assert "secret" not in fingerprint
    assert fingerprint == account_fingerprint("https://API.example", "secret-key-123")
    assert fingerprint != account_fingerprint("https://api.example", "secret-key-124")


def test_a_write_through_of_an_unreadable_answer_does_not_fail_the_write():
    assert not services.mirror_record(kind="refunds", record=refund(1001, date="31/12/2026"))
    assert not MirroredRecord.objects.exists()


def test_seen_at_defaults_to_now():
    before = timezone.now()
    services.mirror_record(kind="refunds", record=refund(1001))
    assert MirroredRecord.objects.get().seen_at >= before
