"""The client's home directory and its small private files (written atomically, mode 0600)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from .errors import ClientError

CONFIG_NAME = "config.json"
KEYSTORE_NAME = "keystore.json"
REPLICA_NAME = "replica.sqlite3"


def default_home() -> Path:
    """``$DOORSTEP_HOME`` if set, else ``~/.doorstep``."""
    env = os.environ.get("DOORSTEP_HOME")
    return Path(env).expanduser() if env else Path.home() / ".doorstep"


def write_private_json(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as JSON, atomically, readable by the owner only."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None if the file does not exist. Raises ClientError if unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ClientError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except ValueError:
        raise ClientError(f"{path} is damaged (not JSON)") from None


def shred(path: Path) -> None:
    """Overwrite a small file with random bytes, then delete it (best effort on flash storage)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    with open(path, "r+b") as handle:
        handle.write(os.urandom(max(size, 1)))
        handle.flush()
        os.fsync(handle.fileno())
    path.unlink()


@dataclass
class Config:
    """``config.json``: where the server is, who is logged in, which device this is.

    Holds the device token (as a tablet app does): the file is the owner's only. It never
    holds passwords, passphrases or keys.
    """

    server: str | None = None
    sync_url: str | None = None
    username: str | None = None
    user_id: int | None = None
    user_ref: str | None = None
    user_token: str | None = None
    device_id: str | None = None
    device_pk: int | None = None
    device_token: str | None = None
    device_token_expires_at: str | None = None
    device_name: str | None = None
    #: The server said this device is revoked: case data stays sealed until a re-admission.
    locked: bool = False
    last_sync: dict[str, Any] | None = None

    @classmethod
    def load(cls, path: Path) -> Config:
        data = read_json(path)
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ClientError(f"{path} is damaged (not an object)")
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    def save(self, path: Path) -> None:
        write_private_json(path, asdict(self))


class Home:
    """The files of one client installation under ``root``."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_home()

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def keystore_path(self) -> Path:
        return self.root / KEYSTORE_NAME

    @property
    def replica_path(self) -> Path:
        return self.root / REPLICA_NAME

    def ensure(self) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
