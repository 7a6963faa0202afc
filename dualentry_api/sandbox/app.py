"""The sandbox WSGI app: a local stand-in for DualEntry's Public API v2.

Serves ``/public/v2/...`` for customer refunds, deposits and credits (list, create, get, PUT),
attachment uploads for refunds and deposits, contracts (list, create, get, usage list, usage
bulk-upsert), health, and read-only reference data (companies, customers, accounts, items,
vendors, classifications, classification lines, custom fields, VAT and GST rates, invoices,
cash sales, customer payments, customer prepayments, vendor refunds, sales orders). The vendored
spec is the law: request bodies are validated against it and outputs are projections onto its
output schemas (see :mod:`dualentry_api.sandbox.projection`).

Authentication: header ``X-API-KEY`` must equal the configured key (default ``sandbox-key``),
else 401. The sandbox also accepts :data:`OUTSIDE_API_KEY` (``dualentry-app``): it stands for
DualEntry's own app and other integrations changing records "from outside" the portal, through
the same API and rules but with token buckets of its own, as such changes would not spend the
portal's key (the pytest plugin's ``sandbox.outside`` helper uses it).

Errors always use the spec's ``ErrorSchema``: ``{"success": false, "errors": {key: [msg, ...]}}``.
Error keys for 422 (and 400 on bad query parameters):

- ``"__all__"``: the whole request (bad JSON, "a posted refund needs at least one line").
- ``"<field>"``: a top-level body field, e.g. ``"company_id"``, ``"date"``.
- ``"<field>.<sub>"``: a nested object field, e.g. ``"billing_address.city"``.
- ``"items[<i>].<field>"``: field of the line at 0-based index ``i`` *of the request body's*
  ``items`` array, e.g. ``"items[0].amount"``; the same for other arrays
  (``"obligations[1].item_id"``, ``"attachments[0].id"``). A whole line is ``"items[2]"``.

Behaviour notes: ``limit`` is capped at 100; ``count`` is the number of matches; a create or
PUT without ``record_status`` posts the record; PUT replaces the whole record, except that a
body without an ``attachments`` key keeps the record's attachments; unknown records and unknown
contracts (also on the usage endpoints) answer 404; payment methods have no endpoint (ids
1-4, see :data:`dualentry_api.sandbox.writes.PAYMENT_METHODS`).

Control endpoints (no API key; only this sandbox has them), all JSON:

- ``POST /__sandbox__/reset``: back to the seed.
- ``GET|PUT|DELETE /__sandbox__/faults``: show, replace (body: :class:`Faults` fields), clear.
- ``GET|DELETE /__sandbox__/requests``: the request log (``?path_prefix=&method=``) and count.
- ``GET /__sandbox__/attachments/<id>/``: download an attachment (the ``download_url``).
- ``DELETE /__sandbox__/records/<collection>/<key>/``: remove a record, as if it had been
  deleted upstream (API v2 has no DELETE for the portal's kinds). Sandbox-only, like faults.
- ``PATCH /__sandbox__/records/<collection>/<key>/``: merge the JSON body's fields into a stored
  record and bump ``updated_at``, for edits DualEntry's own app can make and API v2 cannot
  (a contract's status, say). Sandbox-only; nothing is validated, so keep to the spec's shapes.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from collections import deque
from decimal import Decimal
from typing import Any

from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import default_stream_factory
from werkzeug.wrappers import Request, Response

from dualentry_api import spec
from dualentry_api.sandbox.faults import Faults, FaultState
from dualentry_api.sandbox.projection import project
from dualentry_api.sandbox.resources import (
    API_PREFIX,
    RESOURCES,
    QueryError,
    matches,
    parse_filters,
    sort_records,
)
from dualentry_api.sandbox.seed import Seed
from dualentry_api.sandbox.store import BASE_URL_PLACEHOLDER, Store, dumps, utc_now
from dualentry_api.sandbox.writes import BUILDERS, FieldErrors, build_usage

logger = logging.getLogger(__name__)

DEFAULT_API_KEY = "sandbox-key"
OUTSIDE_API_KEY = "dualentry-app"
CONTROL_PREFIX = "/__sandbox__/"
ATTACHMENT_RESOURCES = ("customer-refunds", "customer-deposits")
CREATE_STATUS = {"contracts": 201}
UPDATABLE = ("customer-refunds", "customer-deposits", "customer-credits")
REQUEST_LOG_SIZE = 20000


def error_key(location: tuple) -> str:
    """``("items", 0, "amount")`` -> ``"items[0].amount"``; ``()`` -> ``"__all__"``."""
    key = ""
    for part in location:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += f".{part}" if key else str(part)
    return key or "__all__"


class SandboxRequest(Request):
    """Streams uploaded files straight to disk, next to where the store keeps them."""

    files_dir: str | None = None

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ):
        if self.files_dir is None:
            return default_stream_factory(
                total_content_length, content_type, filename, content_length
            )
        return tempfile.NamedTemporaryFile(
            dir=self.files_dir, prefix="upload-", suffix=".part", delete=False
        )


class SandboxApp:
    """WSGI callable. ``store`` holds the data; ``faults`` what to break."""

    def __init__(self, *, store: Store | None = None, api_key: str = DEFAULT_API_KEY):
        self.store = store or Store(seed=Seed())
        self.api_key = api_key
        self.fault_state = FaultState()
        self.log_lock = threading.Lock()
        self.request_log: deque[dict] = deque(maxlen=REQUEST_LOG_SIZE)

    # -- control API used by the pytest plugin and run_sandbox --------------------------------

    def reset(self) -> None:
        self.store.reset()

    def set_faults(self, **settings: Any) -> Faults:
        faults = Faults.from_dict(settings)
        self.fault_state.configure(faults)
        return faults

    def clear_faults(self) -> None:
        self.fault_state.configure(Faults())

    def requests(self, path_prefix: str | None = None, method: str | None = None) -> list[dict]:
        with self.log_lock:
            entries = list(self.request_log)
        return [
            entry
            for entry in entries
            if (path_prefix is None or entry["path"].startswith(path_prefix))
            and (method is None or entry["method"] == method.upper())
        ]

    def clear_log(self) -> None:
        with self.log_lock:
            self.request_log.clear()

    # -- WSGI -------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = SandboxRequest(environ)
        request.files_dir = str(self.store.files_dir)
        if request.path.startswith(CONTROL_PREFIX):
            response = self.control(request)
        elif request.path.startswith(API_PREFIX):
            response = self.api(request, environ)
        else:
            response = self.error(404, {"__all__": [f"No such path: {request.path}"]})
        if response is None:  # connection dropped on purpose: nothing reaches the client
            start_response("500 Connection dropped", [("Content-Length", "0")])
            return []
        return response(environ, start_response)

    def api(self, request: SandboxRequest, environ) -> Response | None:
        started = time.perf_counter()
        entry = {
            "method": request.method,
            "path": request.path,
            "query": request.query_string.decode("latin-1"),
            "api_key": request.headers.get("X-API-KEY", ""),
            "request_id": uuid.uuid4().hex,
            "status": None,
            # Wall-clock time of arrival, so a test can check rates over any window.
            "at": time.time(),
        }
        with self.log_lock:
            self.request_log.append(entry)
        response = self._api(request, environ, entry)
        if response is not None:
            entry["status"] = response.status_code
            response.headers["X-Request-ID"] = entry["request_id"]
        entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
        return response

    def _api(self, request: SandboxRequest, environ, entry: dict) -> Response | None:
        faults = self.fault_state.faults
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        if faults.drops(request.path):
            self._drop(environ)
            return None
        if entry["api_key"] not in (self.api_key, OUTSIDE_API_KEY):
            return self.error(401, {"__all__": ["Invalid or missing API key (X-API-KEY)."]})
        matched = spec.match_path(request.path)
        route = f"{request.method} {matched[0] if matched else request.path}"
        retry_after = self.fault_state.retry_after(entry["api_key"], route)
        if retry_after is not None:
            response = self.error(
                429, {"__all__": [f"Too many requests. Retry in {retry_after} seconds."]}
            )
            response.headers["Retry-After"] = str(retry_after)
            return response
        forced = faults.status_for(request.path)
        if forced is not None:
            return self.error(forced, {"__all__": [f"Sandbox fault: status {forced}."]})
        if self.fault_state.should_fail():
            status = faults.error_status
            return self.error(status, {"__all__": ["Sandbox fault: injected server error."]})
        if matched is None:
            return self.error(404, {"__all__": [f"No such endpoint: {request.path}"]})
        try:
            return self.route(request, *matched)
        except RequestEntityTooLarge:
            return self.error(413, {"__all__": ["The request is too large."]})

    def _drop(self, environ) -> None:
        connection = environ.get("werkzeug.socket")
        if connection is not None:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                logger.debug("Socket already closed while dropping the connection.")

    # -- routing ----------------------------------------------------------------------------

    def route(self, request: SandboxRequest, template: str, params: dict) -> Response:
        method = request.method
        if method.lower() not in spec.load_spec()["paths"][template]:
            return self.error(405, {"__all__": [f"{method} is not allowed here."]})
        tail = template[len(API_PREFIX) :].strip("/").split("/")
        name = tail[0]
        if name == "health":
            return self.json_response(
                200, {"status": "ok", "timestamp": utc_now(), "sandbox": True}
            )
        resource = RESOURCES.get(name)
        if resource is None:
            return self.error(404, {"__all__": [f"No such endpoint: {request.path}"]})
        key = next(iter(params.values()), None)
        if len(tail) == 1 and method == "GET":
            return self.list_records(request, resource)
        if len(tail) == 1 and method == "POST" and name in BUILDERS:
            return self.save_record(request, resource, None)
        if len(tail) == 2 and method == "GET":
            return self.get_record(request, resource, key)
        if len(tail) == 2 and method == "PUT" and name in UPDATABLE:
            return self.save_record(request, resource, key)
        if tail[-1] == "attachments" and method == "POST" and name in ATTACHMENT_RESOURCES:
            return self.upload(request, resource, key)
        if name == "contracts" and tail[-1] == "usage" and method == "GET":
            return self.usage_list(key)
        if name == "contracts" and tail[-1] == "bulk-upsert" and method == "POST":
            return self.usage_upsert(request, key)
        return self.error(
            405, {"__all__": [f"The sandbox does not implement {method} {template}."]}
        )

    # -- handlers ---------------------------------------------------------------------------

    def list_records(self, request: SandboxRequest, resource) -> Response:
        query = {name: request.args.getlist(name) for name in request.args}
        try:
            filters, ordering, limit, offset = parse_filters(resource, query)
            with self.store.lock:
                entries = [
                    self.store.rendered(resource, record)
                    for record in self.store.collection(resource.name).values()
                ]
            entries = [entry for entry in entries if matches(resource, entry.view, filters)]
            entries = sort_records(entries, ordering, view=lambda entry: entry.view)
        except QueryError as error:
            return self.error(400, error.errors)
        page = entries[offset : offset + limit]
        body = b'{"items":[' + b",".join(entry.list_json for entry in page)
        body += b'],"count":' + str(len(entries)).encode() + b"}"
        return self.raw_json(200, body, request)

    def get_record(self, request: SandboxRequest, resource, key: str | None) -> Response:
        with self.store.lock:
            record = self.store.get(resource.name, key)
            if record is None:
                return self.not_found(resource, key)
            body = self.store.detail_json(resource, record)
        return self.raw_json(200, body, request)

    def save_record(self, request: SandboxRequest, resource, key: str | None) -> Response:
        with self.store.lock:
            existing = None
            if key is not None:
                existing = self.store.get(resource.name, key)
                if existing is None:
                    return self.not_found(resource, key)
            body, problem = self._json_body(request)
            if problem:
                return problem
            violations = spec.request_violations(request.method, request.path, body)
            if violations:
                return self.validation_error(violations)
            record, errors = BUILDERS[resource.name](self.store, body, existing, utc_now())
            if errors:
                return self.error(422, errors)
            self.store.save(resource.name, record)
            payload = self.store.detail_json(resource, record)
        status = CREATE_STATUS.get(resource.name, 200) if key is None else 200
        return self.raw_json(status, payload, request)

    def upload(self, request: SandboxRequest, resource, key: str | None) -> Response:
        with self.store.lock:
            record = self.store.get(resource.name, key)
        if record is None:
            self._discard_uploads(request)
            return self.not_found(resource, key)
        if request.mimetype != "multipart/form-data":
            return self.error(
                422, {"files": ['Send the files as multipart/form-data in the field "files".']}
            )
        uploads = request.files.getlist("files")
        errors = FieldErrors()
        if not uploads:
            errors.add("files", "No file was submitted.")
        for index, upload in enumerate(uploads):
            if not upload.filename:
                errors.add(f"files[{index}]", "The file has no name.")
            elif self._upload_size(upload) == 0:
                errors.add(f"files[{index}]", f"{upload.filename} is empty.")
        if errors:
            self._discard_uploads(request)
            return self.error(422, errors)
        with self.store.lock:
            record = self.store.get(resource.name, key)
            added = []
            for upload in uploads:
                attachment_id = self.store.next_id()
                attachment = {
                    "id": attachment_id,
                    "file_name": os.path.basename(upload.filename),
                    "file_size": self._upload_size(upload),
                    "content_type": upload.mimetype or "application/octet-stream",
                }
                self._store_upload(upload, attachment_id)
                self.store.collection("attachments")[attachment_id] = attachment
                added.append(self.store.attachment_summary(attachment))
            updated = {**record, "attachments": [*record.get("attachments", []), *added]}
            updated["updated_at"] = utc_now()
            self.store.save(resource.name, updated)
            payload = self.store.detail_json(resource, updated)
        return self.raw_json(200, payload, request)

    @staticmethod
    def _upload_size(upload: FileStorage) -> int:
        stream = upload.stream
        position = stream.tell()
        stream.seek(0, os.SEEK_END)
        size = stream.tell()
        stream.seek(position)
        return size

    def _store_upload(self, upload: FileStorage, attachment_id: int) -> None:
        target = self.store.attachment_file(attachment_id)
        stream = upload.stream
        name = getattr(stream, "name", None)
        if isinstance(name, str) and os.path.dirname(name) == str(self.store.files_dir):
            stream.close()
            os.replace(name, target)
            return
        stream.seek(0)
        with target.open("wb") as destination:
            while chunk := stream.read(1024 * 1024):
                destination.write(chunk)

    def _discard_uploads(self, request: SandboxRequest) -> None:
        for upload in request.files.getlist("files"):
            name = getattr(upload.stream, "name", None)
            upload.stream.close()
            if isinstance(name, str) and os.path.dirname(name) == str(self.store.files_dir):
                os.unlink(name)

    def usage_list(self, contract_id: str | None) -> Response:
        resource = RESOURCES["contracts"]
        with self.store.lock:
            contract = self.store.get("contracts", contract_id)
            if contract is None:
                return self.not_found(resource, contract_id)
            usage = self.store.usage_for(contract["id"])
            schema = spec.operation_for("GET", resource.list_path + "1/usage/").response_schema(200)
            return self.json_response(200, project(schema, usage))

    def usage_upsert(self, request: SandboxRequest, contract_id: str | None) -> Response:
        resource = RESOURCES["contracts"]
        with self.store.lock:
            contract = self.store.get("contracts", contract_id)
            if contract is None:
                return self.not_found(resource, contract_id)
            body, problem = self._json_body(request)
            if problem:
                return problem
            violations = spec.request_violations("POST", request.path, body)
            if violations:
                return self.validation_error(violations)
            saved, errors = build_usage(self.store, contract, body, utc_now())
            if errors:
                return self.error(422, errors)
            self.store.save_many("contract-usage", saved)
            self.store.invalidate("contracts", contract["id"])
            schema = spec.operation_for("POST", request.path).response_schema(200)
            return self.json_response(200, project(schema, saved))

    # -- control endpoints ------------------------------------------------------------------

    def control(self, request: SandboxRequest) -> Response:
        path = request.path[len(CONTROL_PREFIX) :].strip("/")
        method = request.method
        if path == "reset" and method == "POST":
            self.reset()
            return self.json_response(200, {"reset": True})
        if path == "faults":
            if method == "GET":
                return self.json_response(200, self.fault_state.faults.to_dict())
            if method in ("PUT", "POST"):
                body, problem = self._json_body(request)
                if problem:
                    return problem
                try:
                    faults = self.set_faults(**(body or {}))
                except (TypeError, ValueError) as error:
                    return self.error(422, {"__all__": [str(error)]})
                return self.json_response(200, faults.to_dict())
            if method == "DELETE":
                self.clear_faults()
                return self.json_response(200, self.fault_state.faults.to_dict())
        if path == "requests":
            if method == "GET":
                found = self.requests(
                    request.args.get("path_prefix"), request.args.get("method") or None
                )
                return self.json_response(200, {"count": len(found), "requests": found})
            if method == "DELETE":
                self.clear_log()
                return self.json_response(200, {"count": 0, "requests": []})
        if path.startswith("attachments/") and method == "GET":
            return self.download(path.split("/")[1])
        if path.startswith("records/") and method in ("DELETE", "PATCH"):
            return self.change_from_outside(request, *path.split("/")[1:])
        return self.error(404, {"__all__": [f"No such control endpoint: {request.path}"]})

    def change_from_outside(self, request: SandboxRequest, *where: str) -> Response:
        """The sandbox-only record controls (see the module docstring)."""
        if len(where) != 2 or where[0] not in RESOURCES:
            return self.error(404, {"__all__": ["Use /__sandbox__/records/<collection>/<key>/."]})
        name, key = where
        resource = RESOURCES[name]
        if request.method == "DELETE":
            removed = self.store.delete(name, key)
            if removed is None:
                return self.not_found(resource, key)
            return self.json_response(200, {"deleted": {"collection": name, "key": key}})
        try:  # the store keeps decimals as strings, as the API writes them
            changes = json.loads(request.get_data(cache=False) or b"null", parse_float=str)
        except ValueError:
            return self.error(422, {"__all__": ["The request body is not valid JSON."]})
        if not isinstance(changes, dict) or resource.key_field in changes:
            sentence = f"Send an object of the fields to change (not {resource.key_field})."
            return self.error(422, {"__all__": [sentence]})
        with self.store.lock:
            record = self.store.get(name, key)
            if record is None:
                return self.not_found(resource, key)
            updated = {**record, **changes, "updated_at": utc_now()}
            self.store.save(name, updated)
            payload = self.store.detail_json(resource, updated)
        return self.raw_json(200, payload, request)

    def download(self, attachment_id: str) -> Response:
        attachment = self.store.get("attachments", attachment_id)
        if attachment is None:
            return self.error(404, {"__all__": [f"Attachment {attachment_id} does not exist."]})
        headers = {
            "Content-Disposition": f'attachment; filename="{attachment["file_name"]}"',
        }
        if "content_text" in attachment:
            return Response(
                attachment["content_text"], 200, headers, mimetype=attachment["content_type"]
            )
        path = self.store.attachment_file(attachment["id"])
        if not path.exists():
            return self.error(404, {"__all__": [f"Attachment {attachment_id} has no file."]})
        handle = path.open("rb")
        response = Response(handle, 200, headers, mimetype=attachment["content_type"])
        response.headers["Content-Length"] = str(attachment["file_size"])
        response.direct_passthrough = True
        return response

    # -- responses --------------------------------------------------------------------------

    def _json_body(self, request: SandboxRequest) -> tuple[Any, Response | None]:
        raw = request.get_data(cache=False)
        if not raw:
            return None, self.error(422, {"__all__": ["The request body is empty."]})
        try:
            return json.loads(raw, parse_float=Decimal), None
        except ValueError:
            return None, self.error(422, {"__all__": ["The request body is not valid JSON."]})

    def validation_error(self, violations: list[spec.Violation]) -> Response:
        errors = FieldErrors()
        for violation in violations:
            errors.add(error_key(violation.location), violation.message)
        return self.error(422, errors)

    def not_found(self, resource, key: Any) -> Response:
        noun = resource.name.rstrip("s").replace("-", " ")
        return self.error(404, {"__all__": [f"No {noun} with {resource.key_field} {key}."]})

    def error(self, status: int, errors: dict) -> Response:
        return self.json_response(status, {"success": False, "errors": dict(errors)})

    def json_response(self, status: int, payload: Any) -> Response:
        return Response(dumps(payload), status, mimetype="application/json")

    def raw_json(self, status: int, body: bytes, request: SandboxRequest) -> Response:
        """A pre-serialised body, with ``download_url`` placeholders made absolute."""
        placeholder = BASE_URL_PLACEHOLDER.encode()
        if placeholder in body:
            body = body.replace(placeholder, request.host_url.rstrip("/").encode())
        return Response(body, status, mimetype="application/json")
