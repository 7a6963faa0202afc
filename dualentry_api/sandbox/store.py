"""The sandbox's in-memory store, with an optional JSON state file and fast reset to the seed.

State is plain JSON-compatible data::

    {"sequences": {"id": 5012, "customer-refunds": 1093, ...},
     "collections": {"customer-refunds": {number: record, ...}, "contract-usage": {...},
                     "attachments": {id: metadata}, ...}}

Responses are pre-rendered: for each record the store keeps its projected list output (as JSON
bytes) and a *filter view* (the output merged with the stored record), and renders the detail
output on first use. A write drops the record's entry, so lists never re-project or re-validate
on the hot path. Reset restores a pristine seed built once per process (pickle round trip) along
with its pre-rendered outputs.

``download_url`` values are stored with the placeholder :data:`BASE_URL_PLACEHOLDER`; the app
replaces it with the request's host URL on the way out.

The store does not know what the seed is: whoever builds it passes a ``seed`` (a hashable
callable that fills an empty store, :class:`dualentry_api.sandbox.seed.Seed`), so the seed
module depends on the store and never the other way round.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import shutil
import tempfile
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from dualentry_api.sandbox.projection import project
from dualentry_api.sandbox.resources import COLLECTIONS, KEY_FIELDS, RESOURCES, Resource

BASE_URL_PLACEHOLDER = "__SANDBOX_BASE_URL__"
DETAIL_PRERENDER_LIMIT = 2000  # records in a collection
ATTACHMENT_PATH = "/__sandbox__/attachments/{id}/"

# Fills an empty store; hashable, because the pristine state is built once per seed.
SeedFunction = Callable[["Store"], None]


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Rendered:
    view: dict
    list_json: bytes
    detail_json: bytes | None = None


def empty_state() -> dict:
    return {"sequences": {"id": 1}, "collections": {name: {} for name in COLLECTIONS}}


class Store:
    """Records of every resource, guarded by one lock (the server is threaded)."""

    def __init__(
        self, *, state_file: Path | str | None = None, seed: SeedFunction | None = None
    ) -> None:
        if seed is not None and not isinstance(seed, Hashable):
            raise TypeError("The seed must be hashable (it keys the cached pristine state).")
        self.seed = seed
        self.lock = threading.RLock()
        self.state_file = Path(state_file) if state_file else None
        if self.state_file:
            self.files_dir = self.state_file.with_name(self.state_file.name + ".files")
            self.files_dir.mkdir(parents=True, exist_ok=True)
        else:
            self.files_dir = Path(tempfile.mkdtemp(prefix="dualentry-sandbox-files-"))
        self.state = empty_state()
        self._rendered: dict[tuple[str, int], Rendered] = {}
        if self.state_file and self.state_file.exists():
            self._load()
        elif seed is not None:
            self.reset()

    # -- state -------------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the deterministic seed (fast: no re-seeding, no re-rendering); empty if none."""
        state_bytes, rendered = _pristine(self.seed) if self.seed else (None, {})
        with self.lock:
            self.state = pickle.loads(state_bytes) if state_bytes else empty_state()
            self._rendered = dict(rendered)
            for path in self.files_dir.glob("*"):
                if path.is_file():
                    path.unlink()
            self._persist()

    def _load(self) -> None:
        with self.state_file.open(encoding="utf-8") as state_file:
            stored = json.load(state_file)
        state = empty_state()
        state["sequences"] = stored["sequences"]
        for name, records in stored["collections"].items():
            key_field = KEY_FIELDS[name]
            state["collections"][name] = {record[key_field]: record for record in records}
        self.state = state
        self._rendered = {}

    def _persist(self) -> None:
        if not self.state_file:
            return
        payload = {
            "sequences": self.state["sequences"],
            "collections": {
                name: list(records.values()) for name, records in self.state["collections"].items()
            },
        }
        temporary = self.state_file.with_name(self.state_file.name + ".tmp")
        temporary.write_bytes(dumps(payload))
        os.replace(temporary, self.state_file)

    def close(self) -> None:
        if not self.state_file:
            shutil.rmtree(self.files_dir, ignore_errors=True)

    # -- access ------------------------------------------------------------------------------

    def collection(self, name: str) -> dict[int, dict]:
        return self.state["collections"][name]

    def get(self, name: str, key: Any) -> dict | None:
        try:
            return self.state["collections"][name].get(int(key))
        except (TypeError, ValueError):
            return None

    def next_id(self) -> int:
        sequences = self.state["sequences"]
        value = sequences["id"]
        sequences["id"] = value + 1
        return value

    def next_number(self, name: str) -> int:
        sequences = self.state["sequences"]
        value = sequences.get(name, 1001)
        sequences[name] = value + 1
        return value

    def save(self, name: str, record: dict) -> None:
        """Store (insert or replace) a record and persist; drops its rendered outputs."""
        with self.lock:
            key = record[KEY_FIELDS[name]]
            self.state["collections"][name][key] = record
            self._rendered.pop((name, key), None)
            self._persist()

    def save_many(self, name: str, records: list[dict]) -> None:
        with self.lock:
            key_field = KEY_FIELDS[name]
            for record in records:
                self.state["collections"][name][record[key_field]] = record
            self._persist()

    def delete(self, name: str, key: Any) -> dict | None:
        """Remove a record (a contract with its usage) and persist; the record, or None."""
        with self.lock:
            record = self.get(name, key)
            if record is None:
                return None
            del self.state["collections"][name][record[KEY_FIELDS[name]]]
            self._rendered.pop((name, record[KEY_FIELDS[name]]), None)
            if name == "contracts":
                usage = self.collection("contract-usage")
                gone = [u["id"] for u in usage.values() if u["contract_id"] == record["id"]]
                for usage_id in gone:
                    del usage[usage_id]
            self._persist()
            return record

    def invalidate(self, name: str, key: int) -> None:
        self._rendered.pop((name, key), None)

    def attachment_summary(self, attachment: dict) -> dict:
        return {
            "id": attachment["id"],
            "file_name": attachment["file_name"],
            "file_size": attachment["file_size"],
            "download_url": BASE_URL_PLACEHOLDER + ATTACHMENT_PATH.format(id=attachment["id"]),
        }

    def attachment_file(self, attachment_id: int) -> Path:
        return self.files_dir / f"{attachment_id}.bin"

    # -- rendering ---------------------------------------------------------------------------

    def usage_for(self, contract_id: int) -> list[dict]:
        return [
            usage
            for usage in self.collection("contract-usage").values()
            if usage["contract_id"] == contract_id
        ]

    def _detail_source(self, resource: Resource, record: dict) -> dict:
        if resource.name == "contracts":
            return {**record, "obligation_usage": self.usage_for(record["id"])}
        return record

    def rendered(self, resource: Resource, record: dict) -> Rendered:
        key = (resource.name, record[resource.key_field])
        entry = self._rendered.get(key)
        if entry is None:
            list_output = project(resource.list_item_schema, record)
            entry = Rendered({**list_output, **record}, dumps(list_output))
            self._rendered[key] = entry
        return entry

    def detail_json(self, resource: Resource, record: dict) -> bytes:
        entry = self.rendered(resource, record)
        if entry.detail_json is None:
            schema = resource.detail_schema or resource.list_item_schema
            entry.detail_json = dumps(project(schema, self._detail_source(resource, record)))
        return entry.detail_json

    def render_all(self) -> None:
        """Pre-render list outputs, and detail outputs of collections of a usual size.

        A benchmark seed of 10,000 records per kind would spend about a minute on details
        nobody may open; those render on their first GET instead.
        """
        for name, resource in RESOURCES.items():
            records = self.collection(name).values()
            details = len(records) <= DETAIL_PRERENDER_LIMIT
            for record in records:
                if details:
                    self.detail_json(resource, record)
                else:
                    self.rendered(resource, record)


@cache
def _pristine(seed: SeedFunction) -> tuple[bytes, dict[tuple[str, int], Rendered]]:
    store = Store()
    seed(store)
    store.render_all()
    store.close()
    return pickle.dumps(store.state, protocol=pickle.HIGHEST_PROTOCOL), store._rendered


def pristine_state(seed: SeedFunction) -> dict:
    """A fresh copy of what ``seed`` produces (for inspection and tests)."""
    return pickle.loads(_pristine(seed)[0])
