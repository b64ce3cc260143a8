"""``/api/attention/`` (a worker's "For your attention" list) and ``/api/directory/`` (names)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.accounts.apis import ColleagueOutput
from backend.accounts.names import colleagues, person
from backend.audit.models import AuditAction
from backend.audit.services import audit_record_many
from backend.common.http import actor_of

from .selectors import attention_items, item_json
from .services import attention_dismiss


class AttentionItemOutput(serializers.Serializer):
    id = serializers.CharField(help_text="stable key; dismiss with it")
    kind = serializers.ChoiceField(choices=["returned", "decision", "addendum", "late_edit", "case_removed"])
    at = serializers.DateTimeField()
    case_id = serializers.CharField()
    case_number = serializers.CharField()
    record_id = serializers.CharField(allow_null=True)
    record_type = serializers.CharField(allow_null=True)
    title = serializers.CharField(help_text="one plain-English sentence with names and dates, no ids")
    comment = serializers.CharField(allow_null=True)
    by = ColleagueOutput(allow_null=True)
    status = serializers.CharField(allow_null=True)


class AttentionListApi(APIView):
    @extend_schema(
        responses=inline_serializer("AttentionList", {"results": AttentionItemOutput(many=True)}),
        tags=["Attention"],
    )
    def get(self, request: Request) -> Response:
        items = attention_items(request.user)
        # A supervisor's comment is case content: its reading is audited, once per case.
        read = sorted({item.case.pk for item in items if item.comment is not None})
        if read:
            audit_record_many(
                actor=actor_of(request),
                action=AuditAction.READ,
                items=[("case", case_id, case_id, {"via": "attention"}) for case_id in read],
            )
        return Response({"results": [item_json(item) for item in items]})


class AttentionDismissApi(APIView):
    @extend_schema(request=None, responses={204: None}, tags=["Attention"])
    def post(self, request: Request, item_id: str) -> Response:
        attention_dismiss(user=request.user, item_id=item_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DirectoryApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "Directory",
            {
                "users": ColleagueOutput(many=True),
                "devices": inline_serializer(
                    "DirectoryDevice",
                    {
                        "id": serializers.CharField(),
                        "name": serializers.CharField(),
                        "user": serializers.CharField(),
                    },
                    many=True,
                ),
            },
        ),
        tags=["Attention"],
    )
    def get(self, request: Request) -> Response:
        people, devices = colleagues(request.user)
        return Response(
            {
                "users": [person(user) for user in people],
                "devices": [{"id": f"d:{d.pk}", "name": d.name, "user": f"u:{d.user_id}"} for d in devices],
            }
        )
