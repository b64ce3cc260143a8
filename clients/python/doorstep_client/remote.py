"""A CouchDB-protocol database over HTTP: auth, typed errors, retries, 413 batch halving."""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from ._version import __version__
from .errors import (
    BadRequest,
    Conflict,
    DeviceLocked,
    DeviceRevoked,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    PreconditionFailed,
    RemoteError,
    ServerError,
    ServerUnreachable,
    TooLarge,
    Unauthorized,
)
from .peer import Change, ChangesBatch, DocFailure, Seq

_T = TypeVar("_T")
_R = TypeVar("_R")

_ERRORS: dict[int, type[RemoteError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    412: PreconditionFailed,
    413: TooLarge,
}
#: Answers worth another try after a pause: overload, a restarting server, a proxy timeout.
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``url`` without user info or trailing slash, and the user name and password it held."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:  # an IPv6 literal
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), parts.query, ""))
    return clean, parts.username, parts.password


def doc_path(doc_id: str) -> str:
    """The URL path segment of a document id: ``_design/``/``_local/`` prefixes stay, the rest
    is percent-encoded (``keyenv:case:…#2`` holds ``:`` and ``#``)."""
    for prefix in ("_design/", "_local/"):
        if doc_id.startswith(prefix):
            return prefix + quote(doc_id[len(prefix) :], safe="")
    return quote(doc_id, safe="")


def _seq_param(seq: Seq) -> str:
    if isinstance(seq, str):
        return seq
    if isinstance(seq, int) and not isinstance(seq, bool):
        return str(seq)
    return json.dumps(seq)


def _chunks(items: Sequence[_T], size: int | None) -> list[Sequence[_T]]:
    if not size or len(items) <= size:
        return [items]
    return [items[start : start + size] for start in range(0, len(items), size)]


class Remote:
    """A database (or API root) at ``url``, spoken to with JSON.

    Authentication: ``token`` (sent as ``Authorization: <token_scheme> <token>``, ``Token`` or
    ``Bearer``), or HTTP Basic from ``username``/``password`` or user info in ``url`` (which
    is then removed from ``url`` and ``peer_id``). Transport failures and 429/5xx answers are
    retried ``retries`` times with exponential backoff and jitter (``sleep`` is injectable);
    then ``ServerUnreachable`` or ``ServerError``. Error answers raise the ``RemoteError``
    subclass for their status; a 401 carrying ``"wipe": true`` raises ``DeviceRevoked``, one carrying ``"lock": true``
    ``DeviceLocked``.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        token_scheme: str = "Token",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        use_bulk_get: bool = True,
    ) -> None:
        clean, url_user, url_password = split_credentials(url)
        self.url = clean
        username = username if username is not None else url_user
        password = password if password is not None else url_password
        headers = {"User-Agent": f"doorstep-client/{__version__}", "Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"{token_scheme} {token}"
        auth = httpx.BasicAuth(username, password or "") if username is not None and token is None else None
        self._client = httpx.Client(
            base_url=clean + "/",
            headers=headers,
            auth=auth,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
        )
        self._retries = retries
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._sleep = sleep
        self._use_bulk_get = use_bulk_get
        self._caps: dict[str, int] = {}
        self._local_revs: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Remote({self.url!r})"

    @property
    def peer_id(self) -> str:
        return self.url

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def batch_cap(self, endpoint: str) -> int | None:
        """The largest batch ``endpoint`` (``_bulk_docs``, ``_bulk_get``, ``_revs_diff``) has
        accepted since a 413, or None if it never refused one."""
        return self._caps.get(endpoint)

    # -- HTTP --------------------------------------------------------------------------------

    def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        idempotent: bool = True,
    ) -> Any:
        """Send one request and return the parsed JSON answer (None for an empty body).

        ``path`` is relative to the URL. A non-``idempotent`` request is retried only when the
        connection could not be made, so it is never sent twice. Raises RemoteError
        subclasses, ServerUnreachable.
        """
        response = self._send(method, path, params=params, body=body, idempotent=idempotent)
        if response.is_success:
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise BadRequest(
                    response.status_code, "bad_response", "the server did not answer JSON"
                ) from None
        raise self._error(response)

    def _send(
        self, method: str, path: str, *, params: Mapping[str, str] | None, body: Any, idempotent: bool
    ) -> httpx.Response:
        content = None
        headers = {}
        if body is not None:
            content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
        attempt = 0
        while True:
            try:
                response = self._client.request(method, path, params=params, content=content, headers=headers)
            except httpx.TransportError as exc:
                retry = idempotent or isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if not retry or attempt >= self._retries:
                    raise ServerUnreachable(f"cannot reach {self.url} ({_transport_reason(exc)})") from None
            else:
                if response.status_code not in _RETRY_STATUSES or attempt >= self._retries or not idempotent:
                    return response
            pause = min(self._max_backoff, self._backoff * 2**attempt)
            self._sleep(pause * (0.5 + random.random() / 2))
            attempt += 1

    @staticmethod
    def _error(response: httpx.Response) -> RemoteError:
        try:
            data = response.json()
        except ValueError:
            data = None
        error: Any = None
        reason: Any = None
        if isinstance(data, dict):
            error = data.get("error") or data.get("code")
            reason = data.get("reason") or data.get("message") or data.get("detail")
        status = response.status_code
        error_text = str(error) if error else f"http_{status}"
        reason_text = str(reason)[:300] if reason else response.reason_phrase
        revoked = isinstance(data, dict) and (
            data.get("wipe") is True or data.get("code") == "device_revoked"
        )
        if status == 401 and isinstance(data, dict) and data.get("lock") is True:
            return DeviceLocked(status, error_text, reason_text)  # revoked, not wiped: keep the data
        if status == 401 and revoked:
            return DeviceRevoked(status, error_text, reason_text)
        kind = _ERRORS.get(status) or (ServerError if status >= 500 else RemoteError)
        return kind(status, error_text, reason_text)

    def _in_chunks(
        self,
        endpoint: str,
        items: Sequence[_T],
        send: Callable[[Sequence[_T]], list[_R]],
        refused_alone: Callable[[_T, RemoteError], list[_R]],
        *,
        split_on: tuple[type[RemoteError], ...] = (TooLarge,),
    ) -> list[_R]:
        """Send ``items`` in batches; a batch refused with one of ``split_on`` (413) is halved
        and retried, and the smaller size is remembered for later calls, as PouchDB does. A
        single item still refused becomes ``refused_alone(item, error)``."""
        queue: deque[Sequence[_T]] = deque(_chunks(items, self._caps.get(endpoint)))
        results: list[_R] = []
        while queue:
            part = queue.popleft()
            if not part:
                continue
            try:
                results.extend(send(part))
            except split_on as exc:
                if len(part) == 1:
                    results.extend(refused_alone(part[0], exc))
                    continue
                half = (len(part) + 1) // 2
                if isinstance(exc, TooLarge):
                    self._caps[endpoint] = min(self._caps.get(endpoint, half), half)
                queue.extendleft([part[half:], part[:half]])
        return results

    # -- the database ------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """``GET /db/``."""
        data = self.request_json("GET", "")
        return dict(data) if isinstance(data, dict) else {}

    def create_database(self) -> None:
        """``PUT /db`` (an existing database is fine)."""
        with contextlib.suppress(PreconditionFailed):
            self.request_json("PUT", "", idempotent=False)

    def get(self, doc_id: str, **params: Any) -> dict[str, Any]:
        """``GET /db/{id}``; list/bool/dict parameters are sent as JSON. Raises NotFound."""
        query = {key: value if isinstance(value, str) else json.dumps(value) for key, value in params.items()}
        data = self.request_json("GET", doc_path(doc_id), params=query)
        return dict(data) if isinstance(data, dict) else {}

    def put(self, doc: Mapping[str, Any]) -> str:
        """``PUT /db/{id}`` (``new_edits=true``); returns the new rev. Raises Conflict."""
        data = self.request_json("PUT", doc_path(str(doc["_id"])), body=dict(doc), idempotent=False)
        return str(data["rev"])

    def delete(self, doc_id: str, rev: str) -> str:
        """``DELETE /db/{id}?rev=…``; returns the tombstone's rev. Raises Conflict, NotFound."""
        data = self.request_json("DELETE", doc_path(doc_id), params={"rev": rev}, idempotent=False)
        return str(data["rev"])

    def get_local(self, local_id: str) -> dict[str, Any] | None:
        try:
            data = self.request_json("GET", doc_path(f"_local/{local_id}"))
        except NotFound:
            self._local_revs.pop(local_id, None)
            return None
        if not isinstance(data, dict):
            return None
        if isinstance(data.get("_rev"), str):
            self._local_revs[local_id] = data["_rev"]
        return dict(data)

    def put_local(self, local_id: str, body: Mapping[str, Any]) -> None:
        """Write ``_local/{local_id}`` over whatever is there (refetching the rev on a conflict)."""
        doc = {key: value for key, value in body.items() if key not in {"_id", "_rev"}}
        for attempt in range(3):
            rev = self._local_revs.get(local_id)
            payload = {**doc, "_rev": rev} if rev else doc
            try:
                data = self.request_json("PUT", doc_path(f"_local/{local_id}"), body=payload)
            except Conflict:
                if attempt == 2:
                    raise
                self.get_local(local_id)
                continue
            if isinstance(data, dict) and isinstance(data.get("rev"), str):
                self._local_revs[local_id] = data["rev"]
            return

    def changes_since(self, since: Seq, limit: int) -> ChangesBatch:
        params = {"style": "all_docs", "since": _seq_param(since), "limit": str(limit), "feed": "normal"}
        data = self.request_json("GET", "_changes", params=params)
        rows = data.get("results", []) if isinstance(data, dict) else []
        changes = []
        for row in rows:
            if not isinstance(row, dict) or not isinstance(row.get("id"), str):
                continue
            revs = tuple(
                c["rev"]
                for c in row.get("changes", [])
                if isinstance(c, dict) and isinstance(c.get("rev"), str)
            )
            changes.append(
                Change(seq=row.get("seq"), id=row["id"], revs=revs, deleted=bool(row.get("deleted")))
            )
        last_seq = data.get("last_seq", since) if isinstance(data, dict) else since
        pending = data.get("pending") if isinstance(data, dict) else None
        return ChangesBatch(tuple(changes), last_seq, pending if isinstance(pending, int) else None)

    def revs_diff(self, revs: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
        def send(part: Sequence[tuple[str, Sequence[str]]]) -> list[tuple[str, list[str]]]:
            data = self.request_json("POST", "_revs_diff", body={doc_id: list(r) for doc_id, r in part})
            found = []
            for doc_id, entry in (data or {}).items():
                missing = entry.get("missing", []) if isinstance(entry, dict) else []
                if missing:
                    found.append((str(doc_id), [str(rev) for rev in missing]))
            return found

        def alone(item: tuple[str, Sequence[str]], error: RemoteError) -> list[tuple[str, list[str]]]:
            raise error

        return dict(self._in_chunks("_revs_diff", list(revs.items()), send, alone))

    def bulk_get(
        self, wanted: Sequence[tuple[str, Sequence[str]]]
    ) -> tuple[list[dict[str, Any]], list[DocFailure]]:
        """``_bulk_get?revs=true&latest=true``, or one ``GET ?open_revs=…`` per document when the
        peer has no ``_bulk_get`` (404/405/501), as PouchDB does."""
        entries = [(doc_id, rev) for doc_id, revs in wanted for rev in dict.fromkeys(revs)]
        results: list[dict[str, Any] | DocFailure] = []
        if self._use_bulk_get:
            try:
                results = self._in_chunks("_bulk_get", entries, self._bulk_get_part, _too_large_entry)
            except (NotFound, MethodNotAllowed):
                self._use_bulk_get = False
            except ServerError as exc:
                if exc.status != 501:
                    raise
                self._use_bulk_get = False
        if not self._use_bulk_get:
            results = []
            for doc_id, revs in wanted:
                results.extend(self._open_revs(doc_id, list(dict.fromkeys(revs))))
        docs: list[dict[str, Any]] = []
        failures: list[DocFailure] = []
        seen: set[tuple[str, str]] = set()
        for item in results:
            if isinstance(item, DocFailure):
                failures.append(item)
                continue
            key = (str(item.get("_id")), str(item.get("_rev")))
            if key not in seen:
                seen.add(key)
                docs.append(self._with_attachments(item))
        return docs, failures

    def _bulk_get_part(self, part: Sequence[tuple[str, str]]) -> list[dict[str, Any] | DocFailure]:
        body = {"docs": [{"id": doc_id, "rev": rev} for doc_id, rev in part]}
        data = self.request_json("POST", "_bulk_get", params={"revs": "true", "latest": "true"}, body=body)
        rows = data.get("results", []) if isinstance(data, dict) else []
        found: list[dict[str, Any] | DocFailure] = []
        for index, (doc_id, rev) in enumerate(part):
            row = rows[index] if index < len(rows) and isinstance(rows[index], dict) else {}
            found.extend(_read_results(doc_id, rev, row.get("docs", [])))
        return found

    def _open_revs(self, doc_id: str, revs: list[str]) -> list[dict[str, Any] | DocFailure]:
        params = {"revs": "true", "latest": "true", "open_revs": json.dumps(revs)}
        try:
            data = self.request_json("GET", doc_path(doc_id), params=params)
        except NotFound as exc:
            return [DocFailure(doc_id, rev, exc.error, exc.reason) for rev in revs]
        found: list[dict[str, Any] | DocFailure] = []
        for entry in data if isinstance(data, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("ok"), dict):
                found.append(entry["ok"])
            elif isinstance(entry, dict) and "missing" in entry:
                found.append(DocFailure(doc_id, str(entry["missing"]), "not_found", "missing"))
        return found

    def _with_attachments(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Attachment stubs cannot be replicated: refetch such a revision with inline data."""
        attachments = doc.get("_attachments")
        if not isinstance(attachments, dict) or not any(
            isinstance(att, dict) and att.get("stub") for att in attachments.values()
        ):
            return doc
        return self.get(str(doc["_id"]), rev=str(doc["_rev"]), revs="true", attachments="true")

    def bulk_store_replicated(self, docs: Sequence[Mapping[str, Any]]) -> list[DocFailure]:
        """``_bulk_docs`` with ``new_edits=false``. A 413 halves the batch; a batch refused as a
        whole (400/403) is halved too, so one bad document cannot block the others. Returns
        every per-document refusal."""

        def send(part: Sequence[Mapping[str, Any]]) -> list[DocFailure]:
            data = self.request_json("POST", "_bulk_docs", body={"docs": list(part), "new_edits": False})
            revs = {str(doc.get("_id")): doc.get("_rev") for doc in part}
            failures = []
            for entry in data if isinstance(data, list) else []:
                if isinstance(entry, dict) and entry.get("error"):
                    doc_id = str(entry.get("id", ""))
                    rev = entry.get("rev") or revs.get(doc_id)
                    failures.append(
                        DocFailure(
                            doc_id,
                            str(rev) if rev else None,
                            str(entry["error"]),
                            str(entry.get("reason", "")),
                        )
                    )
            return failures

        def alone(doc: Mapping[str, Any], error: RemoteError) -> list[DocFailure]:
            rev = doc.get("_rev")
            return [DocFailure(str(doc.get("_id")), str(rev) if rev else None, error.error, error.reason)]

        return self._in_chunks(
            "_bulk_docs", list(docs), send, alone, split_on=(TooLarge, BadRequest, Forbidden)
        )

    def ensure_full_commit(self) -> None:
        with contextlib.suppress(NotFound, MethodNotAllowed):
            self.request_json("POST", "_ensure_full_commit", body={})


def _read_results(doc_id: str, rev: str, docs: Iterable[Any]) -> list[dict[str, Any] | DocFailure]:
    found: list[dict[str, Any] | DocFailure] = []
    for entry in docs:
        if isinstance(entry, dict) and isinstance(entry.get("ok"), dict):
            found.append(entry["ok"])
        elif isinstance(entry, dict) and isinstance(entry.get("error"), dict):
            error = entry["error"]
            found.append(
                DocFailure(
                    str(error.get("id", doc_id)),
                    str(error.get("rev", rev)),
                    str(error.get("error", "unknown_error")),
                    str(error.get("reason", "")),
                )
            )
        else:  # pouchdb-server answers {} for a document it does not have
            found.append(DocFailure(doc_id, rev, "not_found", "missing"))
    if not found:
        found.append(DocFailure(doc_id, rev, "not_found", "missing"))
    return found


def _too_large_entry(entry: tuple[str, str], error: RemoteError) -> list[dict[str, Any] | DocFailure]:
    return [DocFailure(entry[0], entry[1], error.error, error.reason)]


def _transport_reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "connection failed"
    return type(exc).__name__
