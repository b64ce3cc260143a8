"""The client's errors: one line each, never quoting case data, each with a CLI exit code."""

from __future__ import annotations

from typing import ClassVar

#: Exit codes of the ``doorstep`` command (documented in docs/python-client.md).
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PASSPHRASE = 3
EXIT_UNREACHABLE = 4
EXIT_REVOKED = 5
EXIT_REFUSED = 6


class ClientError(Exception):
    """Base class of every error the client raises on purpose; ``str()`` is one line for people."""

    exit_code: ClassVar[int] = EXIT_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RemoteError(ClientError):
    """The peer answered with an error: CouchDB's ``{"error", "reason"}`` or the REST API's
    ``{"code", "message"}``. ``error``/``reason`` are the peer's words."""

    def __init__(self, status: int, error: str, reason: str) -> None:
        self.status = status
        self.error = error
        self.reason = reason
        super().__init__(f"server refused the request: {error}: {reason} (HTTP {status})")


class BadRequest(RemoteError):
    """400."""


class Unauthorized(RemoteError):
    """401: the token or password was not accepted."""


class Forbidden(RemoteError):
    """403."""


class NotFound(RemoteError):
    """404."""


class MethodNotAllowed(RemoteError):
    """405: the peer lacks this endpoint (an old CouchDB without ``_bulk_get``, say)."""


class Conflict(RemoteError):
    """409."""


class PreconditionFailed(RemoteError):
    """412."""


class TooLarge(RemoteError):
    """413: the request body was too large for the peer."""


class ServerError(RemoteError):
    """5xx after every retry."""


class DeviceRevoked(Unauthorized):
    """401 with ``"wipe": true``: a wipe was ordered for this device; the caller must erase its data."""

    exit_code = EXIT_REVOKED


class DeviceLocked(Unauthorized):
    """401 with ``"lock": true``, or a device that heard so before: it was revoked, and keeps
    its data sealed and unopened until an admin re-admits it (then ``doorstep login``) or
    orders a wipe. Nothing is erased."""

    exit_code = EXIT_REVOKED

    def __init__(
        self, status: int = 401, error: str = "unauthorized", reason: str = "device revoked"
    ) -> None:
        super().__init__(status, error, reason)
        self.message = (
            "this device has been revoked by your organisation: its case data stays on it, locked "
            "and unopened, until an administrator re-admits it (then run `doorstep login`) or orders a wipe"
        )
        self.args = (self.message,)


class DeviceRetired(ClientError):
    """The server retired this device: it sent everything it held, then erased its data."""

    exit_code = EXIT_REVOKED

    def __init__(self, sent: int) -> None:
        super().__init__(
            f"this device has been retired by your organisation: it sent its {sent} unsent record(s), "
            "then erased its local case data and keys"
        )


class ServerUnreachable(ClientError):
    """No answer from the server after every retry (no network, DNS, refused, timed out)."""

    exit_code = EXIT_UNREACHABLE


class DeviceWiped(ClientError):
    """The server revoked this device and the local replica and keystore have been erased."""

    exit_code = EXIT_REVOKED

    def __init__(self) -> None:
        super().__init__(
            "this device has been revoked by your organisation: its local case data and keys "
            "have been erased. Contact your administrator."
        )


class PassphraseError(ClientError):
    """The passphrase did not open the keystore (or is unacceptable for a new one)."""

    exit_code = EXIT_PASSPHRASE


class LocalConflict(ClientError):
    """A local edit named a parent revision that is not a leaf (CouchDB's update conflict)."""


class MissingDocument(ClientError):
    """The replica holds no such document (or not that revision)."""


class KeyUnavailable(ClientError):
    """No key envelope for that case key on this device (not synced yet, or access ended)."""


class NotConfigured(ClientError):
    """A step is missing: not logged in, not enrolled, no server URL."""


class InvalidInput(ClientError):
    """What the user asked for cannot be done as given (bad field, invalid content)."""

    exit_code = EXIT_USAGE
