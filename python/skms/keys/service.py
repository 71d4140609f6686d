"""KeyService: every lifecycle and cryptographic operation on keys and wallets.

The API, the CLI and later interfaces call this one object. It checks the
key's state and policy, picks the version (new operations use the newest
enabled, unexpired version; decrypt and verify accept any enabled version not
below the minimum), keeps decrypted material in a bounded TTL cache, and writes
through a :class:`~skms.storage.KeyStore`.

Authorization and audit hook in through :class:`Guard` (allow-all until the
security layer replaces it), so every interface gets the same answer.

KeyService is composed of one mixin per concern: the shared state, caches and
checks (:mod:`skms.keys.core`), the lifecycle (:mod:`skms.keys.lifecycle`), the
crypto operations (:mod:`skms.keys.operations`) and the wallet operations
(:mod:`skms.keys.wallet_ops`); this module adds the BYOK and backup entry points.
Around it: where key material comes from and where the operations run
(:mod:`skms.keys.backends`, :mod:`skms.keys.hsm_backend`), the guard
(:mod:`skms.keys.guarding`), what callers see (:mod:`skms.keys.info`), the key
model (:mod:`skms.keys.model`), BYOK (:mod:`skms.keys.transfer`) and backups
(:mod:`skms.keys.backup`).
"""

import base64
import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from skms._native import SecretBytes
from skms.keys.core import WALLET_TYPE, ServiceCore
from skms.keys.guarding import Guard
from skms.keys.info import KeyInfo, VersionInfo, decode_cursor, encode_cursor
from skms.keys.lifecycle import UNSET, LifecycleMixin
from skms.keys.operations import OperationsMixin
from skms.keys.wallet_ops import WalletMixin
from skms.storage import open_store

if TYPE_CHECKING:
    from skms.keys.backup import BackupRecipient, BackupResult


class KeyService(LifecycleMixin, OperationsMixin, WalletMixin, ServiceCore):
    @classmethod
    async def open(cls, url: str, **options: Any) -> "KeyService":
        store = open_store(url)
        await store.open()
        return cls(store, **options)

    # -- BYOK import and export (skms.keys.transfer) --

    async def get_import_parameters(
        self, tenant: str, wrapping_algorithm: str, *, ttl: int | None = None, principal: object = None
    ) -> tuple[str, bytes, float]:
        """(import token, wrapping public key, expiry) for :meth:`import_key`; see :mod:`skms.keys.transfer`."""
        from skms.keys import transfer

        return await transfer.get_import_parameters(
            self, tenant, wrapping_algorithm, ttl=transfer.IMPORT_TOKEN_TTL if ttl is None else ttl, principal=principal
        )

    async def import_key(
        self,
        tenant: str,
        name: str,
        type: str,
        wrapped_material: bytes,
        import_token: str,
        *,
        purpose: str | None = None,
        labels: dict[str, str] | None = None,
        policy: dict[str, Any] | None = None,
        format: str | None = None,
        principal: object = None,
    ) -> KeyInfo:
        """A new key from material wrapped for an import token's wrapping key (single use)."""
        from skms.keys import transfer

        return await transfer.import_key(
            self, tenant, name, type, wrapped_material, import_token,
            purpose=purpose, labels=labels, policy=policy, format=format, principal=principal,
        )  # fmt: skip

    async def export_key(
        self,
        tenant: str,
        name: str,
        recipient_public_key: bytes,
        recipient_algorithm: str,
        version: int | None = None,
        *,
        principal: object = None,
    ) -> bytes:
        """A version's material wrapped for a recipient public key, if the policy says exportable."""
        from skms.keys import transfer

        return await transfer.export_key(
            self, tenant, name, recipient_public_key, recipient_algorithm, version, principal=principal
        )

    async def export_wallet_phrase(self, tenant: str, name: str, *, principal: object = None) -> str:
        """The BIP39 phrase of a wallet whose policy says exportable."""
        from skms.keys import transfer

        return await transfer.export_wallet_phrase(self, tenant, name, principal=principal)

    # -- backup and restore (skms.keys.backup) --

    async def backup(
        self,
        tenant: str | None = None,
        names: Sequence[str] | None = None,
        *,
        recipient: str,
        principal: object = None,
    ) -> "BackupResult":
        """An encrypted bundle of some keys of a tenant, a whole tenant, or every tenant (None),
        for a registered backup recipient; see :func:`skms.keys.backup.backup`."""
        from skms.keys import backup

        return await backup.backup(self, tenant, names, recipient=recipient, principal=principal)

    async def restore(
        self,
        bundle: bytes,
        backup_private_key: SecretBytes | bytes,
        *,
        tenant_map: dict[str, str] | None = None,
        overwrite: bool = False,
        principal: object = None,
    ) -> dict[str, int]:
        """Recreates every key of a backup bundle here; returns counts (keys, versions, replaced)."""
        from skms.keys import backup

        return await backup.restore(
            self, bundle, backup_private_key, tenant_map=tenant_map, overwrite=overwrite, principal=principal
        )

    async def register_backup_recipient(
        self, tenant: str | None, name: str, public_key: bytes, *, principal: object = None
    ) -> "BackupRecipient":
        """Registers an X-Wing public key that backups of ``tenant`` (None: every tenant) may be encrypted for."""
        from skms.keys import backup

        return await backup.register_recipient(self, tenant, name, public_key, principal=principal)

    async def list_backup_recipients(self, tenant: str | None, *, principal: object = None) -> list["BackupRecipient"]:
        from skms.keys import backup

        return await backup.list_recipients(self, tenant, principal=principal)

    async def delete_backup_recipient(self, tenant: str | None, name: str, *, principal: object = None) -> None:
        from skms.keys import backup

        await backup.delete_recipient(self, tenant, name, principal=principal)


def fingerprint(data: bytes) -> str:
    """A short, non-secret identifier of a public value (for logs and audit)."""
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()[:12]).decode()


# The names tests and fuzzers knew these by before they moved to skms.keys.info.
_encode_cursor, _decode_cursor = encode_cursor, decode_cursor

__all__ = ["UNSET", "WALLET_TYPE", "Guard", "KeyInfo", "KeyService", "VersionInfo"]
