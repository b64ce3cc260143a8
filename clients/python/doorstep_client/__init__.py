"""Doorstep Python client: an encrypted offline replica of a caseload, synced over the CouchDB protocol."""

from ._version import __version__
from .client import DoorstepClient, Record, Status, SyncSummary
from .errors import (
    ClientError,
    DeviceLocked,
    DeviceRetired,
    DeviceRevoked,
    DeviceWiped,
    PassphraseError,
    ServerUnreachable,
)
from .remote import Remote
from .replica import Replica
from .replicator import ReplicationResult, Replicator, replicate, replication_id

__all__ = [
    "ClientError",
    "DeviceLocked",
    "DeviceRetired",
    "DeviceRevoked",
    "DeviceWiped",
    "DoorstepClient",
    "PassphraseError",
    "Record",
    "Remote",
    "Replica",
    "ReplicationResult",
    "Replicator",
    "ServerUnreachable",
    "Status",
    "SyncSummary",
    "__version__",
    "replicate",
    "replication_id",
]
