"""REST endpoints for case documents (people, visits, notes, addenda), one generic pair per type."""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.cases.models import Case
from backend.common.errors import NotFound, OutOfScope
from backend.common.http import actor_of
from backend.common.openapi import PAGE_PARAMETERS, paginated
from backend.common.pagination import Pagination
from backend.common.serializers import StrictSerializer, content_field_class
from backend.records.permissions import can_read_case
from sync import workflow

from .export import person_export
from .models import Document
from .services import DocumentView, document_create, document_read, document_update

#: A revision id as ``sync.revtree.parse_rev`` accepts it (N from 1, no leading zeros).
REV_PATTERN = r"^[1-9][0-9]{0,9}-[0-9a-f]{1,64}$"


def document_output(view: DocumentView) -> dict[str, Any]:
    return {
        "id": view.id,
        "rev": view.rev,
        "type": view.doc_type,
        "case_id": view.case_id,
        "schema": view.schema,
        "deleted": view.deleted,
        "conflicts": list(view.conflicts),
        "decisions_pending": list(view.decisions_pending),
        "content": view.content,
    }


@cache
def document_output_serializer(doc_type: str) -> type[serializers.Serializer]:
    return type(
        f"{doc_type.title()}Output",
        (serializers.Serializer,),
        {
            "id": serializers.CharField(),
            "rev": serializers.CharField(),
            # One value per output type, so a response of several possible types tells them apart.
            "type": serializers.ChoiceField(choices=[doc_type]),
            "case_id": serializers.CharField(),
            "schema": serializers.IntegerField(),
            "deleted": serializers.BooleanField(),
            "conflicts": serializers.ListField(child=serializers.CharField()),
            "decisions_pending": serializers.ListField(child=serializers.CharField()),
            "content": content_field_class(doc_type)(),
        },
    )


@cache
def document_summary_serializer(doc_type: str) -> type[serializers.Serializer]:
    return type(
        f"{doc_type.title()}Summary",
        (serializers.Serializer,),
        {
            "id": serializers.CharField(),
            "rev": serializers.CharField(),
            "type": serializers.CharField(),
            "case_id": serializers.CharField(),
            "meta": serializers.DictField(
                help_text="Clear workflow fields only; GET the document for its content."
            ),
        },
    )


@cache
def create_input(doc_type: str) -> type[StrictSerializer]:
    return type(
        f"{doc_type.title()}CreateInput",
        (StrictSerializer,),
        {
            "id": serializers.RegexField(
                rf"^{doc_type}:[0-9A-Z]{{26}}$",
                required=False,
                help_text="Client-chosen id (optional).",
            ),
            "content": content_field_class(doc_type, server_set=workflow.server_fields(doc_type))(),
        },
    )


@cache
def update_input(doc_type: str, *, partial: bool) -> type[StrictSerializer]:
    return type(
        f"{doc_type.title()}{'Patch' if partial else 'Put'}Input",
        (StrictSerializer,),
        {
            "rev": serializers.RegexField(
                REV_PATTERN, help_text="The revision you edited (optimistic concurrency)."
            ),
            "content": content_field_class(
                doc_type, partial=partial, server_set=workflow.server_fields(doc_type)
            )(),
        },
    )


def _case_for_read(request: Request, case_id: str) -> Case:
    case = Case.objects.filter(pk=case_id).first()
    if case is None:
        raise NotFound("case")
    if not can_read_case(request.user, case):
        raise OutOfScope("case", object_type="case", object_id=case_id, case_id=case_id)
    return case


class CaseDocumentListCreateApi(APIView):
    """List (clear workflow fields only) and create documents of one type on a case."""

    doc_type: ClassVar[str]

    def get(self, request: Request, case_id: str) -> Response:
        case = _case_for_read(request, case_id)
        qs = Document.objects.filter(case=case, doc_type=self.doc_type, deleted=False).order_by(
            "-created_at", "id"
        )
        status_filter = request.query_params.get("status")
        if status_filter:
            qs = qs.filter(meta__status=status_filter)
        paginator = Pagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        items = [
            {"id": d.id, "rev": d.rev, "type": d.doc_type, "case_id": d.case_id, "meta": d.meta} for d in page
        ]
        return paginator.get_paginated_response(items)

    def post(self, request: Request, case_id: str) -> Response:
        data = create_input(self.doc_type)(data=request.data)
        data.is_valid(raise_exception=True)
        view = document_create(
            actor=actor_of(request),
            case_id=case_id,
            doc_type=self.doc_type,
            content=data.validated_data["content"],
            doc_id=data.validated_data.get("id"),
        )
        return Response(document_output(view), status=status.HTTP_201_CREATED)


class DocumentDetailApi(APIView):
    """Read (audited) and update one document with optimistic concurrency."""

    doc_type: ClassVar[str]

    def get(self, request: Request, doc_id: str) -> Response:
        view = document_read(actor=actor_of(request), doc_id=doc_id, doc_type=self.doc_type)
        return Response(document_output(view))

    def _update(self, request: Request, doc_id: str, *, partial: bool) -> Response:
        data = update_input(self.doc_type, partial=partial)(data=request.data)
        data.is_valid(raise_exception=True)
        view = document_update(
            actor=actor_of(request),
            doc_id=doc_id,
            rev=data.validated_data["rev"],
            content=data.validated_data["content"],
            partial=partial,
            doc_type=self.doc_type,
        )
        return Response(document_output(view))

    def put(self, request: Request, doc_id: str) -> Response:
        return self._update(request, doc_id, partial=False)

    def patch(self, request: Request, doc_id: str) -> Response:
        return self._update(request, doc_id, partial=True)


def _copy(method: Any) -> Any:
    """A fresh function calling ``method``, so per-type schema annotations do not collide."""

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        return method(self, *args, **kwargs)

    wrapper.__name__ = method.__name__
    return wrapper


def _document_apis(doc_type: str, plural: str) -> tuple[type[APIView], type[APIView]]:
    """Concrete list/create and detail views for ``doc_type`` with their OpenAPI schemas."""
    tag = [plural.title()]
    out = document_output_serializer(doc_type)
    base_list, base_detail = CaseDocumentListCreateApi, DocumentDetailApi
    list_cls = type(
        f"{doc_type.title()}ListCreateApi",
        (base_list,),
        {
            "doc_type": doc_type,
            "get": extend_schema(
                tags=tag,
                operation_id=f"case_{plural}_list",
                parameters=[
                    OpenApiParameter("status", str, description="Filter by workflow status."),
                    *PAGE_PARAMETERS,
                ],
                responses=paginated(document_summary_serializer(doc_type)),
            )(_copy(base_list.get)),
            "post": extend_schema(
                tags=tag,
                operation_id=f"case_{plural}_create",
                request=create_input(doc_type),
                responses={201: out},
            )(_copy(base_list.post)),
        },
    )
    detail_cls = type(
        f"{doc_type.title()}DetailApi",
        (base_detail,),
        {
            "doc_type": doc_type,
            "get": extend_schema(tags=tag, operation_id=f"{doc_type}_read", responses=out)(
                _copy(base_detail.get)
            ),
            "put": extend_schema(
                tags=tag,
                operation_id=f"{doc_type}_replace",
                request=update_input(doc_type, partial=False),
                responses=out,
            )(_copy(base_detail.put)),
            "patch": extend_schema(
                tags=tag,
                operation_id=f"{doc_type}_patch",
                request=update_input(doc_type, partial=True),
                responses=out,
            )(_copy(base_detail.patch)),
        },
    )
    return list_cls, detail_cls


PersonListCreateApi, PersonDetailApi = _document_apis("person", "people")
VisitListCreateApi, VisitDetailApi = _document_apis("visit", "visits")
NoteListCreateApi, NoteDetailApi = _document_apis("note", "notes")
AddendumListCreateApi, AddendumDetailApi = _document_apis("addendum", "addenda")


class PersonExportApi(APIView):
    """Everything held about one person, decrypted, for a subject access request (admins)."""

    @extend_schema(responses=OpenApiTypes.OBJECT, tags=["People"], operation_id="person_export")
    def get(self, request: Request, doc_id: str) -> Response:
        export = person_export(actor=actor_of(request), person_id=doc_id)
        body = {
            "exported_at": export["exported_at"],
            "exported_by": export["exported_by"],
            "person": document_output(export["person"]),
            "case": document_output(export["case"]),
            "records": [{**document_output(view), "why": reasons} for view, reasons in export["records"]],
        }
        filename = f"doorstep-export-{doc_id.replace(':', '-')}.json"
        return Response(body, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
