"""What callers see of a key: its metadata and public keys (never material), and list cursors."""

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from skms.errors import InvalidInput
from skms.keys.backends import SOFTWARE, backend_of
from skms.storage.base import KeyRecord, VersionRecord


@dataclass(frozen=True, slots=True)
class VersionInfo:
    version: int
    created_at: float
    state: str
    expires_at: float | None
    public_key: bytes | None


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """Metadata and public keys of a key: never secret material."""

    id: str
    tenant: str
    name: str
    type: str
    purpose: str
    labels: dict[str, str]
    policy: dict[str, Any]
    state: str
    latest_version: int
    min_version: int
    created_at: float
    updated_at: float
    deletion_at: float | None
    destroyed_at: float | None
    versions: tuple[VersionInfo, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    #: Where the material is: "software" (envelope-encrypted in the store) or "hsm" (in the token).
    backend: str = SOFTWARE


def key_info(record: KeyRecord, versions: Sequence[VersionRecord]) -> KeyInfo:
    """The public view of a key row and its versions."""
    return KeyInfo(
        id=record.id, tenant=record.tenant, name=record.name, type=record.type, purpose=record.purpose,
        labels=dict(record.labels), policy=dict(record.policy), state=record.state,
        latest_version=record.latest_version, min_version=record.min_version, created_at=record.created_at,
        updated_at=record.updated_at, deletion_at=record.deletion_at, destroyed_at=record.destroyed_at,
        versions=tuple(VersionInfo(v.version, v.created_at, v.state, v.expires_at, v.public_key) for v in versions),
        meta=dict(record.meta), backend=backend_of(record),
    )  # fmt: skip


def encode_cursor(name: str) -> str:
    """The opaque cursor that continues a listing after ``name``."""
    return "c1." + base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """Cursors are opaque to callers; one SKMS did not hand out is refused."""
    if not isinstance(cursor, str) or not cursor.startswith("c1."):
        raise InvalidInput("cursor is not one this server returned", field="cursor")
    body = cursor[3:]
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("cursor is not one this server returned", field="cursor") from None


__all__ = ["KeyInfo", "VersionInfo", "decode_cursor", "encode_cursor", "key_info"]
