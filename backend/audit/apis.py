"""The audit trail for admins: filtered listing and CSV export (read-only; no other verbs)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.common.openapi import paginated
from backend.common.pagination import Pagination
from backend.common.roles import Role
from backend.common.serializers import StrictSerializer, id_field
from backend.common.spreadsheet import spreadsheet_row

from .models import AuditAction, AuditEvent


class IsAdminRole(BasePermission):
    message = "only admins can read the audit trail"

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.role == Role.ADMIN)


class AuditFilter(StrictSerializer):
    actor = serializers.CharField(required=False, max_length=150, help_text="Username")
    action = serializers.ChoiceField(choices=AuditAction.values, required=False)
    case_id = serializers.CharField(required=False, max_length=40)
    object_id = serializers.CharField(required=False, max_length=80)
    device = id_field(required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    page = id_field(required=False)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=200)


class AuditEventOutput(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "at",
            "actor_username",
            "device",
            "action",
            "object_type",
            "object_id",
            "case_id",
            "detail",
            "ip",
        ]


def audit_events(filters: dict[str, Any]) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.all().order_by("-id")
    if "actor" in filters:
        qs = qs.filter(actor_username=filters["actor"])
    for name in ("action", "case_id", "object_id"):
        if name in filters:
            qs = qs.filter(**{name: filters[name]})
    if "device" in filters:
        qs = qs.filter(device_id=filters["device"])
    if "since" in filters:
        qs = qs.filter(at__gte=filters["since"])
    if "until" in filters:
        qs = qs.filter(at__lt=filters["until"])
    return qs


class AuditListApi(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(
        parameters=[AuditFilter],
        responses=paginated(AuditEventOutput),
        tags=["Audit"],
        operation_id="audit_list",
    )
    def get(self, request: Request) -> Response:
        filters = AuditFilter(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = Pagination()
        page = paginator.paginate_queryset(audit_events(filters.validated_data), request, view=self)
        return paginator.get_paginated_response(AuditEventOutput(page, many=True).data)


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        # Only errors reach a renderer here (the export returns its own response): keep them JSON.
        return json.dumps(data).encode()


class AuditExportApi(APIView):
    permission_classes = [IsAdminRole]
    renderer_classes = [JSONRenderer, CSVRenderer]
    COLUMNS = [
        "id",
        "at",
        "actor_username",
        "device_id",
        "action",
        "object_type",
        "object_id",
        "case_id",
        "detail",
        "ip",
    ]

    @extend_schema(
        parameters=[AuditFilter],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV, one event a row")},
        tags=["Audit"],
    )
    def get(self, request: Request) -> HttpResponse:
        filters = AuditFilter(data=request.query_params)
        filters.is_valid(raise_exception=True)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(self.COLUMNS)
        for event in audit_events(filters.validated_data).iterator(chunk_size=2000):
            writer.writerow(
                spreadsheet_row(
                    [
                        event.id,
                        event.at.isoformat(),
                        event.actor_username,
                        event.device_id,
                        event.action,
                        event.object_type,
                        event.object_id,
                        event.case_id,
                        event.detail,
                        event.ip,
                    ]
                )
            )
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="doorstep-audit.csv"'
        return response
