"""Token login/logout and the caller's own profile."""

from __future__ import annotations

from datetime import UTC

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.common.errors import Forbidden, NotFound
from backend.common.http import actor_of, client_ip
from backend.common.openapi import ErrorOutput
from backend.common.serializers import StrictSerializer

from .devices import (
    INSTRUCTIONS,
    device_checkin,
    device_enrol,
    device_move,
    device_token_renew,
    device_wipe_confirm,
    devices_visible_to,
)
from .models import Device, Team, User
from .services import token_revoke, user_login
from .throttle import login_unlock


class ColleagueOutput(serializers.Serializer):
    """A person named for someone who reads (attention items, review pages): never a bare id."""

    id = serializers.CharField(help_text="u:<id>")
    name = serializers.CharField()
    role = serializers.CharField()


class TeamOutput(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "service"]


class UserOutput(serializers.ModelSerializer):
    teams = TeamOutput(many=True, read_only=True)
    managed_teams = TeamOutput(many=True, read_only=True)
    ref = serializers.CharField(read_only=True)

    class Meta:
        model = User
        fields = [
            "id",
            "ref",
            "username",
            "first_name",
            "last_name",
            "role",
            "job_title",
            "teams",
            "managed_teams",
        ]


class TokenObtainApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    class TokenObtainInput(StrictSerializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=256, trim_whitespace=False)

    @extend_schema(
        request=TokenObtainInput,
        responses={
            200: inline_serializer(
                "TokenOutput",
                {
                    "token": serializers.CharField(),
                    "expires_at": serializers.DateTimeField(),
                    "user": UserOutput(),
                },
            )
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = self.TokenObtainInput(data=request.data)
        data.is_valid(raise_exception=True)
        secret, token = user_login(
            username=data.validated_data["username"],
            password=data.validated_data["password"],
            ip=client_ip(request),
        )
        return Response(
            {"token": secret, "expires_at": token.expires_at, "user": UserOutput(token.user).data}
        )


class LogoutApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        token_revoke(token=request.auth, actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    @extend_schema(responses=UserOutput)
    def get(self, request: Request) -> Response:
        return Response(UserOutput(request.user).data)


class UserUnlockApi(APIView):
    """An admin clears the sign-in back-off of an account, from every address (audited)."""

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "UserUnlockOutput",
            {
                "id": serializers.IntegerField(),
                "username": serializers.CharField(),
                "sources_cleared": serializers.IntegerField(),
            },
        ),
    )
    def post(self, request: Request, user_id: int) -> Response:
        if not request.user.is_admin_role:
            raise Forbidden("only admins can unlock accounts")
        user = User.objects.filter(pk=user_id).first()
        if user is None:
            raise NotFound("user")
        cleared = login_unlock(actor=actor_of(request), user=user)
        return Response({"id": user.pk, "username": user.username, "sources_cleared": cleared})


class TeamListApi(APIView):
    @extend_schema(responses=TeamOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(TeamOutput(Team.objects.order_by("name"), many=True).data)


class DeviceOutput(serializers.ModelSerializer):
    id = serializers.SerializerMethodField()
    pk = serializers.IntegerField(read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Device
        fields = [
            "id",
            "pk",
            "username",
            "name",
            "public_key",
            "app_version",
            "status",
            "enrolled_at",
            "last_seen_at",
            "last_sync_at",
            "revoked_at",
            "retire_ordered_at",
            "wipe_ordered_at",
            "wiped_at",
            "unsent_reported",
            "unsent_reported_at",
        ]

    def get_id(self, obj: Device) -> str:
        return f"d:{obj.pk}"


class DeviceListCreateApi(APIView):
    class DeviceEnrolInput(StrictSerializer):
        name = serializers.CharField(max_length=100)
        public_key = serializers.RegexField(
            r"^[A-Za-z0-9+/]{43}=$",
            help_text="X25519 public key, base64 of the raw 32 bytes",
            error_messages={"invalid": "public_key must be a base64 X25519 public key (32 bytes)"},
        )
        app_version = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")

    @extend_schema(responses=DeviceOutput(many=True), tags=["Devices"])
    def get(self, request: Request) -> Response:
        return Response(DeviceOutput(devices_visible_to(request.user), many=True).data)

    @extend_schema(
        request=DeviceEnrolInput,
        responses={
            201: inline_serializer(
                "DeviceEnrolOutput",
                {
                    "device": DeviceOutput(),
                    "token": serializers.CharField(),
                    "expires_at": serializers.DateTimeField(),
                },
            )
        },
        tags=["Devices"],
    )
    def post(self, request: Request) -> Response:
        data = self.DeviceEnrolInput(data=request.data)
        data.is_valid(raise_exception=True)
        device, secret, token = device_enrol(actor=actor_of(request), **data.validated_data)
        return Response(
            {"device": DeviceOutput(device).data, "token": secret, "expires_at": token.expires_at},
            status=status.HTTP_201_CREATED,
        )


class DeviceTokenApi(APIView):
    @extend_schema(
        request=None,
        responses=inline_serializer(
            "DeviceTokenOutput", {"token": serializers.CharField(), "expires_at": serializers.DateTimeField()}
        ),
        tags=["Devices"],
    )
    def post(self, request: Request, device_id: int) -> Response:
        secret, token = device_token_renew(actor=actor_of(request), device_id=device_id)
        return Response({"token": secret, "expires_at": token.expires_at})


class DeviceMoveApi(APIView):
    """``POST /api/devices/{id}/<move>/``: one lifecycle move (``accounts.devices.MOVES``)."""

    move = ""

    @extend_schema(request=None, responses=DeviceOutput, tags=["Devices"])
    def post(self, request: Request, device_id: int) -> Response:
        device = device_move(actor=actor_of(request), device_id=device_id, move=self.move)
        return Response(DeviceOutput(device).data)


class DeviceCheckinApi(APIView):
    """``POST /api/devices/me/checkin/``: a device (its own token) reports what it has not sent
    and learns its status, what to do, and the server's clock."""

    class DeviceCheckinInput(StrictSerializer):
        unsent = serializers.IntegerField(min_value=0, max_value=10**9)
        client_time = serializers.DateTimeField()

    @extend_schema(
        request=DeviceCheckinInput,
        responses=inline_serializer(
            "DeviceCheckinOutput",
            {
                "id": serializers.IntegerField(),
                "name": serializers.CharField(),
                "status": serializers.ChoiceField(choices=sorted(INSTRUCTIONS)),
                "server_time": serializers.CharField(help_text="ISO 8601 UTC with milliseconds"),
                "instruction": serializers.ChoiceField(choices=["send_then_erase"], allow_null=True),
            },
        ),
        tags=["Devices"],
    )
    def post(self, request: Request) -> Response:
        device = getattr(request.auth, "device", None)
        if device is None:
            raise Forbidden("check in with the device's own token, not a user token")
        data = self.DeviceCheckinInput(data=request.data)
        data.is_valid(raise_exception=True)
        now = timezone.now()
        device = device_checkin(device=device, unsent=data.validated_data["unsent"], now=now)
        return Response(
            {
                "id": device.pk,
                "name": device.name,
                "status": device.status,
                "server_time": now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "instruction": INSTRUCTIONS.get(device.status),
            }
        )


class DeviceWipedApi(APIView):
    """Called by a device, with its own (revoked) token, after it erased its data."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=None,
        responses={
            204: None,
            404: OpenApiResponse(
                ErrorOutput, description="No wipe or retirement was ordered for this device."
            ),
        },
        tags=["Devices"],
    )
    def post(self, request: Request) -> Response:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() not in {"token", "bearer"} or not secret.strip():
            raise NotAuthenticated()
        device_wipe_confirm(token_secret=secret.strip(), ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
