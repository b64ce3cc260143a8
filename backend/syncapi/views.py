"""HTTP face of ``/sync/caseload``: a CouchDB database per caller (see docs/sync-protocol.md)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from functools import wraps
from typing import Any

from asgiref.sync import sync_to_async
from django.db import OperationalError, transaction
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from backend.cases.models import Case
from backend.common.errors import is_transient_db_error
from backend.common.sequence import current_seq
from backend.keys.envelopes import envelope_wire, issue_envelopes

from . import feed as feeds
from . import reads
from .auth import SyncAuthError, SyncCaller, sync_caller
from .errors import CouchError, bad_request, dumps, error_response, json_response, not_found
from .models import LocalDoc
from .params import MAX_LIMIT, flag, integer, json_body, json_param, parse_since
from .services import replicated_writes
from .subset import case_access, late_write_access, lost_cases, read_access

logger = logging.getLogger("doorstep.sync")

DB_NAME = "caseload"
BATCH_DEFAULT = 1000
LONGPOLL_MAX_MS = 60_000
POLL_SECONDS = 0.5


def couch_view(methods: set[str]) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Authenticate, check the method, and turn every failure into a CouchDB error body."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                if request.method not in methods:
                    raise CouchError(
                        "method_not_allowed", f"Only {', '.join(sorted(methods))} allowed", status=405
                    )
                caller = sync_caller(request)
                return view(request, caller, *args, **kwargs)
            except SyncAuthError as exc:
                extra = exc.instruction
                return error_response(CouchError("unauthorized", exc.reason, **extra))
            except CouchError as exc:
                return error_response(exc)
            except OperationalError as exc:
                if not is_transient_db_error(exc):
                    raise
                # Rolled back whole: nothing stored; replicators retry the request.
                return error_response(
                    CouchError("unavailable", "the server was busy and nothing was saved; retry", status=503)
                )

        return wrapper

    return decorate


# --- database ---------------------------------------------------------------------------------


@couch_view({"GET", "HEAD", "PUT", "DELETE"})
def database(request: HttpRequest, caller: SyncCaller) -> HttpResponse:
    if request.method == "PUT":
        raise CouchError("file_exists", "The database could not be created, the file already exists.")
    if request.method == "DELETE":
        raise CouchError(
            "forbidden", "the caseload database cannot be deleted; ask an admin to wipe the device"
        )
    access = case_access(caller.user)
    update_seq = str(feeds.latest_token(access))
    counts = Case.objects.filter(pk__in=list(access)).aggregate(
        live=Sum("doc_count"), dead=Sum("deleted_doc_count")
    )
    doc_count, del_count = counts["live"] or 0, counts["dead"] or 0
    body = {
        "db_name": DB_NAME,
        "doc_count": doc_count,
        "doc_del_count": del_count,
        "update_seq": update_seq,
        "committed_update_seq": update_seq,
        "purge_seq": 0,
        "compact_running": False,
        "disk_size": 0,
        "data_size": 0,
        "sizes": {"file": 0, "external": 0, "active": 0},
        "instance_start_time": "0",
        "disk_format_version": 8,
        "props": {},
    }
    return json_response(body)


@couch_view({"POST"})
def ensure_full_commit(request: HttpRequest, caller: SyncCaller) -> HttpResponse:
    return json_response({"ok": True, "instance_start_time": "0"}, status=201)


# --- _local checkpoints -----------------------------------------------------------------------


@couch_view({"GET", "PUT", "DELETE"})
def local_doc(request: HttpRequest, caller: SyncCaller, local_id: str) -> HttpResponse:
    full_id = f"_local/{local_id}"
    if not local_id or len(full_id) > 250:
        raise bad_request("invalid _local id")
    existing = LocalDoc.objects.filter(owner=caller.owner, doc_id=full_id).first()
    if request.method == "GET":
        if existing is None:
            raise not_found("missing")
        return json_response({**existing.body, "_id": full_id, "_rev": existing.rev})
    if request.method == "DELETE":
        if existing is None:
            raise not_found("missing")
        existing.delete()
        return json_response({"ok": True, "id": full_id, "rev": "0-0"})
    body = json_body(request)
    if not isinstance(body, dict):
        raise bad_request("document must be a JSON object")
    given_rev = body.get("_rev") or request.GET.get("rev")
    if existing is not None and given_rev is not None and given_rev != existing.rev:
        raise CouchError("conflict", "Document update conflict.")
    number = int(existing.rev.split("-")[1]) + 1 if existing is not None else 1
    rev = f"0-{number}"
    clean = {k: v for k, v in body.items() if k not in {"_id", "_rev"}}
    if len(json.dumps(clean)) > 64_000:
        raise CouchError("too_large", "_local document is too large")
    LocalDoc.objects.update_or_create(
        owner=caller.owner, doc_id=full_id, defaults={"rev": rev, "body": clean, "updated_at": timezone.now()}
    )
    if caller.device is not None:
        type(caller.device).objects.filter(pk=caller.device.pk).update(last_sync_at=timezone.now())
    return json_response({"ok": True, "id": full_id, "rev": rev}, status=201)


# --- _changes ---------------------------------------------------------------------------------


def _changes_query(request: HttpRequest) -> feeds.ChangesQuery:
    feed = request.GET.get("feed", "normal")
    if feed not in {"normal", "longpoll"}:
        raise bad_request("feed must be normal or longpoll (continuous and eventsource are not supported)")
    style = request.GET.get("style", "main_only")
    if style not in {"main_only", "all_docs"}:
        raise bad_request("style must be main_only or all_docs")
    doc_ids: list[str] | None = None
    filter_name = request.GET.get("filter")
    if filter_name not in (None, "", "_doc_ids"):
        raise bad_request("only the _doc_ids filter is supported")
    if filter_name == "_doc_ids" or "doc_ids" in request.GET:
        ids = json_param(request, "doc_ids")
        if ids is None and request.method == "POST":
            body = json_body(request)
            ids = body.get("doc_ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise bad_request("doc_ids must be a JSON array of document ids")
        if len(ids) > MAX_LIMIT:
            raise CouchError("too_large", f"at most {MAX_LIMIT} doc_ids")
        doc_ids = ids
    heartbeat: int | None = None
    if "heartbeat" in request.GET:
        raw = request.GET["heartbeat"]
        heartbeat = (
            60_000
            if raw == "true"
            else integer(request, "heartbeat", None, minimum=1, maximum=LONGPOLL_MAX_MS)
        )
    return feeds.ChangesQuery(
        since=parse_since(request.GET.get("since", "0")),
        limit=integer(request, "limit", BATCH_DEFAULT, minimum=1, maximum=MAX_LIMIT) or BATCH_DEFAULT,
        style_all=style == "all_docs",
        include_docs=flag(request, "include_docs"),
        conflicts=flag(request, "conflicts"),
        feed=feed,
        timeout_ms=integer(request, "timeout", LONGPOLL_MAX_MS, minimum=0, maximum=10 * LONGPOLL_MAX_MS) or 0,
        heartbeat_ms=heartbeat,
        doc_ids=doc_ids,
        descending=flag(request, "descending"),
    )


def _changes_body(results: list[dict[str, Any]], last_seq: str, pending: int) -> bytes:
    return dumps({"results": results, "last_seq": last_seq, "pending": pending})


@csrf_exempt
async def changes(request: HttpRequest) -> HttpResponse:
    """``_changes``: normal and long-poll feeds (long-poll waits without holding a thread)."""

    def prepare() -> tuple[SyncCaller, feeds.ChangesQuery]:
        if request.method not in {"GET", "POST"}:
            raise CouchError("method_not_allowed", "Only GET,POST allowed", status=405)
        return sync_caller(request), _changes_query(request)

    def run(caller: SyncCaller, query: feeds.ChangesQuery) -> tuple[list[dict[str, Any]], str, int]:
        access = read_access(caller)
        if caller.device is not None and caller.receives:
            # Envelopes for newly granted cases or new key versions, committed before the read.
            issue_envelopes(device=caller.device, access=access, actor=caller.actor)
        with transaction.atomic():  # one consistent snapshot per batch
            return feeds.changes_page(caller, query, access)

    def first() -> tuple[SyncCaller, feeds.ChangesQuery, tuple[list[dict[str, Any]], str, int]]:
        caller, query = prepare()
        return caller, query, run(caller, query)

    try:
        # One thread hop for authentication and the first batch.
        caller, query, (results, last_seq, pending) = await sync_to_async(first)()
    except SyncAuthError as exc:
        extra = exc.instruction
        return error_response(CouchError("unauthorized", exc.reason, **extra))
    except CouchError as exc:
        return error_response(exc)
    if results or query.feed != "longpoll":
        return HttpResponse(_changes_body(results, last_seq, pending), content_type="application/json")
    if query.since is None:
        query = feeds.ChangesQuery(**{**query.__dict__, "since": parse_since(last_seq)})

    async def wait() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(query.timeout_ms, LONGPOLL_MAX_MS) / 1000
        beat = (query.heartbeat_ms or 0) / 1000
        next_beat = loop.time() + beat if beat else None
        seen_seq = await sync_to_async(current_seq)()
        while True:
            now = loop.time()
            if now >= deadline:
                yield _changes_body([], last_seq, 0)
                return
            await asyncio.sleep(min(POLL_SECONDS, max(0.0, deadline - now)))
            if next_beat is not None and loop.time() >= next_beat:
                yield b"\n"
                next_beat = loop.time() + beat
            latest = await sync_to_async(current_seq)()
            if latest != seen_seq:
                seen_seq = latest
                found, found_last, found_pending = await sync_to_async(run)(caller, query)
                if found:
                    yield _changes_body(found, found_last, found_pending)
                    return

    return StreamingHttpResponse(wait(), content_type="application/json")


# --- bulk endpoints ---------------------------------------------------------------------------


@couch_view({"POST"})
def revs_diff(request: HttpRequest, caller: SyncCaller) -> HttpResponse:
    body = json_body(request)
    access = case_access(caller.user)
    lost = lost_cases(caller.user, after_seq=1, access=access)
    return json_response(
        reads.revs_diff(
            body,
            access=access,
            lost=lost,
            envelopes=reads.device_envelopes(caller, body.keys() if isinstance(body, dict) else None),
        )
    )


@couch_view({"POST"})
def bulk_get(request: HttpRequest, caller: SyncCaller) -> HttpResponse:
    body = json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("docs"), list):
        raise bad_request('body must be {"docs": [{"id": …, "rev": …}]}')
    if len(body["docs"]) > MAX_LIMIT:
        raise CouchError("too_large", f"at most {MAX_LIMIT} documents per _bulk_get")
    access = read_access(caller)
    lost = lost_cases(caller.user, after_seq=1, access=access)
    audit = reads.PullAudit()
    with transaction.atomic():
        results = reads.bulk_get(
            body["docs"],
            access=access,
            lost=lost,
            envelopes=reads.device_envelopes(
                caller, (d.get("id") for d in body["docs"] if isinstance(d, dict))
            ),
            revs=flag(request, "revs"),
            latest=flag(request, "latest"),
            audit=audit,
        )
        audit.flush(caller)
    return json_response({"results": results})


@couch_view({"POST"})
def bulk_docs(request: HttpRequest, caller: SyncCaller) -> HttpResponse:
    body = json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("docs"), list):
        raise bad_request('body must be {"docs": [...]}')
    new_edits = body.get("new_edits", True)
    if not isinstance(new_edits, bool):
        raise bad_request("new_edits must be true or false")
    if len(body["docs"]) > MAX_LIMIT:
        raise CouchError("too_large", f"at most {MAX_LIMIT} documents per _bulk_docs")
    results = _replicate_in(caller, body["docs"], new_edits=new_edits)
    # CouchDB's replicated_changes mode (new_edits=false) answers only the failures.
    answer = [r.as_json() for r in results if new_edits or r.error]
    return json_response(answer, status=201)


@couch_view({"GET", "POST"})
def all_docs(request: HttpRequest, caller: SyncCaller) -> HttpResponse:
    access = read_access(caller)
    include_docs = flag(request, "include_docs")
    keys = json_param(request, "keys")
    if request.method == "POST":
        body = json_body(request)
        if not isinstance(body, dict):
            raise bad_request("body must be a JSON object")
        keys = body.get("keys", keys)
    limit = integer(request, "limit", None, minimum=0, maximum=MAX_LIMIT)
    skip = integer(request, "skip", 0, minimum=0, maximum=10**9) or 0
    descending = flag(request, "descending")
    if keys is not None and (not isinstance(keys, list) or not all(isinstance(k, str) for k in keys)):
        raise bad_request("keys must be a JSON array of strings")
    ranged = keys is None  # the range parameters apply only without keys
    with transaction.atomic():
        answer = reads.all_docs(
            caller,
            access,
            keys=keys,
            include_docs=include_docs,
            limit=limit,
            skip=skip,
            descending=descending,
            start=_key_param(request, "startkey", "start_key") if ranged else None,
            end=_key_param(request, "endkey", "end_key") if ranged else None,
            inclusive_end=flag(request, "inclusive_end", True) if ranged else True,
            key=json_param(request, "key") if ranged else None,
        )
    return json_response(answer)


def _key_param(request: HttpRequest, *names: str) -> str | None:
    for name in names:
        value = json_param(request, name)
        if value is not None:
            if not isinstance(value, str):
                raise bad_request(f"{name} must be a JSON string")
            return value
    return None


# --- single documents -------------------------------------------------------------------------


@couch_view({"GET", "HEAD", "PUT", "DELETE"})
def document(request: HttpRequest, caller: SyncCaller, doc_id: str) -> HttpResponse:
    if doc_id.startswith("_design/") or (doc_id.startswith("_") and request.method != "GET"):
        raise CouchError("forbidden", "only case documents can be written here")
    if doc_id.startswith("_"):
        raise not_found("missing")
    if request.method in {"GET", "HEAD"}:
        return _get_document(request, caller, doc_id, read_access(caller))
    if request.method == "DELETE":
        rev = request.GET.get("rev")
        if rev is None:
            raise CouchError("conflict", "Document update conflict.")
        doc = {"_id": doc_id, "_rev": reads.check_rev(rev), "_deleted": True}
        result = _replicate_in(caller, [doc], new_edits=True)[0]
        return _write_answer(result, status=200)
    body = json_body(request)
    if not isinstance(body, dict):
        raise bad_request("document must be a JSON object")
    if body.get("_id", doc_id) != doc_id:
        raise bad_request("_id in the body does not match the URL")
    body["_id"] = doc_id
    if "rev" in request.GET and "_rev" not in body:
        body["_rev"] = reads.check_rev(request.GET["rev"])
    new_edits = flag(request, "new_edits", True)
    result = _replicate_in(caller, [body], new_edits=new_edits)[0]
    return _write_answer(result, status=201)


def _replicate_in(caller: SyncCaller, docs: list[Any], *, new_edits: bool) -> list[Any]:
    """Store replicated writes: the caller's subset, plus the cases this device may still
    write late edits to (``subset.late_write_access``), audited as late edits in the write's
    own transaction."""
    access = case_access(caller.user)
    late = late_write_access(caller.user, caller.device, access=access, now=timezone.now())
    return replicated_writes(
        caller=caller,
        access={**access, **late},
        docs=docs,
        new_edits=new_edits,
        late_cases=frozenset(late),
    )


def _write_answer(result: Any, *, status: int) -> HttpResponse:
    if result.error:
        raise CouchError(result.error, result.reason or result.error)
    return json_response({"ok": True, "id": result.id, "rev": result.rev}, status=status)


def _get_document(
    request: HttpRequest, caller: SyncCaller, doc_id: str, access: dict[str, int]
) -> HttpResponse:
    audit = reads.PullAudit()
    revs = flag(request, "revs")
    latest = flag(request, "latest")
    lost = lost_cases(caller.user, after_seq=1, access=access)
    purges = reads.purge_docs_by_id(lost)
    envelopes = reads.device_envelopes(caller, [doc_id])
    documents = reads.visible_documents(access, [doc_id])
    document = documents.get(doc_id)
    raw_open_revs = request.GET.get("open_revs")
    rev = reads.check_rev(request.GET["rev"]) if "rev" in request.GET else None
    wanted: Any = None
    if raw_open_revs is not None:
        wanted = "all" if raw_open_revs == "all" else json_param(request, "open_revs")
        if wanted != "all" and (not isinstance(wanted, list) or not all(isinstance(r, str) for r in wanted)):
            raise bad_request("open_revs must be all or a JSON array of revs")
        if isinstance(wanted, list):
            for item in wanted:
                reads.check_rev(item)
    with transaction.atomic():
        if raw_open_revs is not None:
            if doc_id in purges:
                item = purges[doc_id]
                answer = [{"ok": reads.purge_doc(item.case_id, item.ended_seq, revs=revs)}]
            elif doc_id in envelopes:
                answer = [{"ok": envelope_wire(envelopes[doc_id], revs=revs)}]
            else:
                answer = reads.open_revs(document, wanted, revs=revs, latest=latest, audit=audit)
            audit.flush(caller)
            return json_response(answer)
        if doc_id in purges:
            item = purges[doc_id]
            return json_response(reads.purge_doc(item.case_id, item.ended_seq, revs=revs))
        if doc_id in envelopes:
            if envelopes[doc_id].withdrawn and "rev" not in request.GET:
                raise not_found("deleted")
            return json_response(envelope_wire(envelopes[doc_id], revs=revs))
        if document is None:
            raise not_found("missing")
        doc = reads.open_doc(
            document,
            rev=rev,
            revs=revs,
            revs_info=flag(request, "revs_info"),
            conflicts=flag(request, "conflicts"),
            deleted_conflicts=flag(request, "deleted_conflicts"),
            latest=latest,
            audit=audit,
        )
        audit.flush(caller)
    response = json_response(doc)
    response["ETag"] = f'"{doc["_rev"]}"'
    return response


# --- server root (for clients that probe it) ------------------------------------------------------


@csrf_exempt
def server_root(request: HttpRequest) -> HttpResponse:
    return json_response(
        {"couchdb": "Welcome", "version": "3.3.3", "vendor": {"name": "Doorstep"}, "features": []}
    )


@couch_view({"GET"})
def all_dbs(request: HttpRequest, caller: SyncCaller) -> HttpResponse:
    return json_response([DB_NAME])
