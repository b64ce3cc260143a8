"""The tablet app's own small API: the council's settings it needs, and discarding unsent work."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.common.http import actor_of
from backend.common.openapi import ErrorOutput
from backend.common.serializers import StrictSerializer

from .services import device_unsent_discard

#: A document id as the tablet knows it (`visit:01J…`), never content.
RECORD_ID = r"^[a-z_]+:[0-9A-Za-z_-]{1,64}$"


class TabletSettingsApi(APIView):
    """Council settings the tablet app applies (read before sign-in, cached for offline use)."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses=inline_serializer("TabletSettings", {"idle_lock_minutes": serializers.IntegerField()}),
        tags=["Tablet"],
    )
    def get(self, request: Request) -> Response:
        return Response({"idle_lock_minutes": settings.DOORSTEP_IDLE_LOCK_MINUTES})


class UnsentDiscardApi(APIView):
    """The user's explicit decision to erase records their tablet never sent: audited first."""

    class UnsentDiscardInput(StrictSerializer):
        device = serializers.IntegerField(min_value=1)
        count = serializers.IntegerField(min_value=1, max_value=100_000)
        records = serializers.ListField(
            child=serializers.RegexField(RECORD_ID), max_length=1000, allow_empty=True
        )
        reason = serializers.ChoiceField(choices=["forgotten_passphrase", "erase", "sign_out"])

    @extend_schema(
        request=UnsentDiscardInput,
        responses={
            201: inline_serializer("UnsentDiscarded", {"audit_event": serializers.IntegerField()}),
            404: OpenApiResponse(ErrorOutput, description="No such device of yours."),
        },
        tags=["Tablet"],
    )
    def post(self, request: Request) -> Response:
        data = self.UnsentDiscardInput(data=request.data)
        data.is_valid(raise_exception=True)
        event = device_unsent_discard(
            actor=actor_of(request),
            device_id=data.validated_data["device"],
            count=data.validated_data["count"],
            records=data.validated_data["records"],
            reason=data.validated_data["reason"],
        )
        return Response({"audit_event": event.pk}, status=status.HTTP_201_CREATED)
