"""Backup, restore and escrow of keys.

A backup is one file holding the selected keys (one, a set, a tenant or the whole store): their
metadata, and every version with its number, state, timestamps, public key and decrypted
material. It is encrypted for a registered backup recipient's public key (X-Wing,
``x25519+ml-kem-768``), so only the holder of the backup private key can restore it, and any
changed byte is refused.

Who may receive key material (issue 13): a bundle is encrypted only for a *registered backup
recipient* of the tenant, which an admin registers (``backup:RegisterRecipient``), everyone
with ``backup:ListRecipients`` can list, and the audit log records; a caller cannot name a
public key of their own. A key goes into a bundle only when its policy has ``allow_backup``,
fixed when the key is created (default: the key's ``exportable``) and never turned on later.
Naming a key that may not be backed up is refused (403) naming it; a whole-tenant backup leaves
such keys out and says which. Restore keeps every flag, and never replaces a key with one whose
policy is looser (exportable or allow_backup on where the existing key has them off)::

    bundle = MAGIC "SKMS-BACKUP\\0" (12) ‖ format version (u16, big-endian) ‖ X-Wing ciphertext (1120)
             ‖ nonce (12) ‖ AES-256-GCM(payload)

The AES key is HKDF-SHA256(X-Wing shared secret, no salt, info ``skms-backup v1``); everything
before the GCM ciphertext is its associated data. The payload is UTF-8 JSON with base64 fields.

Restore reproduces every key, version (same numbers, states and timestamps), state, policy,
labels, minimum version and wallet metadata in another (or the same) SKMS, under new data keys
wrapped by the target's root key. Key ids are kept where the target does not use them yet.

Escrow: :func:`split_backup_key` cuts the backup private key into M-of-N SLIP-39 mnemonic
shares for escrow agents; :func:`recover_backup_key` puts any M of them back together.
"""

import base64
import binascii
import hashlib
import json
import os
import struct
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import shamir_mnemonic
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from skms._native import SecretBytes
from skms.crypto import kdf, registry
from skms.crypto.hybrid import XWingKey, XWingPublicKey
from skms.errors import Conflict, Forbidden, IntegrityError, InvalidInput, InvalidKey, InvalidType, NotFound
from skms.keys import envelope
from skms.keys.backends import SOFTWARE, backend_of
from skms.keys.model import KeyPolicy, backup_allowed, check_name
from skms.keys.seal import enough_shares
from skms.keys.transfer import INTERNAL_TENANT, check_tenant
from skms.storage.base import BackupRecipientRecord, KeyFilter, KeyRecord, VersionRecord

if TYPE_CHECKING:
    from skms.keys.service import KeyService

MAGIC = b"SKMS-BACKUP\x00"
FORMAT_VERSION = 1
BACKUP_KEY_TYPE = "x25519+ml-kem-768"
HKDF_INFO = b"skms-backup v1"
_KEM_CIPHERTEXT = 1120
_NONCE = 12
_HEADER = len(MAGIC) + 2 + _KEM_CIPHERTEXT + _NONCE
_PAGE = 500

_KEY_FIELDS = (
    "id", "tenant", "name", "type", "purpose", "labels", "policy", "state", "latest_version", "min_version",
    "created_at", "updated_at", "next_rotation_at", "deletion_at", "destroyed_at", "meta",
)  # fmt: skip


def create_backup_keypair() -> tuple[SecretBytes, bytes]:
    """A new backup key pair: (private key, a 32-byte X-Wing seed; public key, 1216 raw bytes)."""
    key = registry.get(BACKUP_KEY_TYPE).key_class.generate()
    public = key.public_key().export("raw")
    private = key.export("raw")
    assert isinstance(public, bytes) and isinstance(private, bytes)
    return SecretBytes(private), public


def _backup_private_key(private_key: SecretBytes | bytes) -> XWingKey:
    if not isinstance(private_key, SecretBytes | bytes):
        raise InvalidType(f"the backup private key must be SecretBytes or bytes, got {type(private_key).__name__}")
    return XWingKey.load(private_key)


# -- the bundle -----------------------------------------------------------------------------------


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _unb64(text: object) -> bytes | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise ValueError("not base64 text")
    return base64.b64decode(text, validate=True)


def seal_bundle(payload: bytes, recipient_public_key: bytes) -> bytes:
    """Encrypts a payload for a backup public key (the bundle layout in the module docstring)."""
    if not isinstance(recipient_public_key, bytes):
        raise InvalidType("the backup public key must be bytes")
    public = XWingPublicKey.load(recipient_public_key)
    shared, ciphertext = public.encapsulate()
    key = kdf.hkdf(shared, 32, None, HKDF_INFO)
    nonce = os.urandom(_NONCE)
    header = MAGIC + struct.pack(">H", FORMAT_VERSION) + ciphertext + nonce
    return header + AESGCM(key.expose_secret()).encrypt(nonce, payload, header)


def open_bundle(bundle: bytes, private_key: SecretBytes | bytes) -> bytes:
    """The payload of a bundle; IntegrityError for a changed byte, a wrong key or not a bundle."""
    kem = _backup_private_key(private_key)
    if not isinstance(bundle, bytes):
        raise InvalidType(f"a backup bundle is bytes, got {type(bundle).__name__}")
    if len(bundle) < _HEADER + 16 or not bundle.startswith(MAGIC):
        raise IntegrityError("not an SKMS backup bundle (or it was truncated or altered)")
    (version,) = struct.unpack(">H", bundle[len(MAGIC) : len(MAGIC) + 2])
    if version != FORMAT_VERSION:
        raise IntegrityError(f"backup format version {version} is not one this SKMS reads (or the bundle was altered)")
    ciphertext = bundle[len(MAGIC) + 2 : len(MAGIC) + 2 + _KEM_CIPHERTEXT]
    nonce = bundle[_HEADER - _NONCE : _HEADER]
    key = kdf.hkdf(kem.decapsulate(ciphertext), 32, None, HKDF_INFO)
    try:
        return AESGCM(key.expose_secret()).decrypt(nonce, bundle[_HEADER:], bundle[:_HEADER])
    except InvalidTag:
        raise IntegrityError("the backup bundle failed authentication: altered, or not for this backup key") from None


# -- recipients -----------------------------------------------------------------------------------

#: Why a raw public key is not taken where a recipient is named.
RAW_KEY_REFUSED = (
    "backups are encrypted only for registered backup recipients: an admin registers the public key "
    "(POST /v1/backup/recipients, `skms backup recipient add`) and the backup names it in `recipient`"
)


@dataclass(frozen=True, slots=True)
class BackupRecipient:
    """A public key that backups may be encrypted for (public values only)."""

    name: str
    public_key: bytes
    #: SHA-256 of the public key, hex: compare it with the escrow holders' copy out of band.
    fingerprint: str
    created_at: float
    created_by: str


@dataclass(frozen=True, slots=True)
class BackupResult:
    """A bundle, the recipient it is for, and the names of the keys it holds and of those left out."""

    bundle: bytes
    recipient: str
    keys: tuple[str, ...]
    #: Keys of a whole-tenant backup whose policy does not allow backup (never in the bundle).
    skipped: tuple[str, ...]


def _registry_tenant(tenant: str | None) -> str:
    # Store-wide recipients (for backups of every tenant, library only) live under the internal
    # tenant, which no caller over the network can name.
    return INTERNAL_TENANT if tenant is None else check_tenant(tenant)


def _recipient_info(record: BackupRecipientRecord) -> BackupRecipient:
    return BackupRecipient(record.name, record.public_key, record.fingerprint, record.created_at, record.created_by)


def public_key_fingerprint(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()


async def register_recipient(
    service: "KeyService", tenant: str | None, name: str, public_key: bytes, *, principal: object = None
) -> BackupRecipient:
    """Registers an X-Wing public key under ``name`` for backups of ``tenant`` (None: every tenant)."""
    scope = _registry_tenant(tenant)

    async def register() -> BackupRecipient:
        check_name(name)
        if not isinstance(public_key, bytes):
            raise InvalidType("a backup recipient's public key is bytes")
        XWingPublicKey.load(public_key)  # InvalidKey: not a raw 1216-byte X-Wing public key
        service.sealer.root()
        record = BackupRecipientRecord(
            scope, name, public_key, public_key_fingerprint(public_key), service.clock(),
            str(getattr(principal, "id", None) or "local"),
        )  # fmt: skip
        await service.store.put_backup_recipient(record)
        return _recipient_info(record)

    return await service.guard.run(
        principal, "backup:RegisterRecipient", tenant or "*", f"backup:{name}", register, [public_key]
    )


async def list_recipients(
    service: "KeyService", tenant: str | None, *, principal: object = None
) -> list[BackupRecipient]:
    scope = _registry_tenant(tenant)

    async def read() -> list[BackupRecipient]:
        return [_recipient_info(r) for r in await service.store.list_backup_recipients(scope)]

    return await service.guard.run(principal, "backup:ListRecipients", tenant or "*", "backup:*", read, ())


async def delete_recipient(service: "KeyService", tenant: str | None, name: str, *, principal: object = None) -> None:
    scope = _registry_tenant(tenant)

    async def delete() -> None:
        await service.store.delete_backup_recipient(scope, check_name(name))

    await service.guard.run(principal, "backup:DeleteRecipient", tenant or "*", f"backup:{name}", delete, ())


# -- backup ---------------------------------------------------------------------------------------


async def _selected(service: "KeyService", tenant: str | None) -> list[KeyRecord]:
    store = service.store
    records: list[KeyRecord] = []
    if tenant is not None:
        cursor: str | None = None
        while True:
            page, cursor = await store.list_keys(tenant, KeyFilter(), _PAGE, cursor)
            records += page
            if cursor is None:
                return records
    after: str | None = None
    while batch := await store.all_keys(after, _PAGE):
        records += [r for r in batch if r.tenant != INTERNAL_TENANT]
        after = batch[-1].id
    return records


async def _entry(service: "KeyService", record: KeyRecord) -> dict[str, Any]:
    entry: dict[str, Any] = {f: getattr(record, f) for f in _KEY_FIELDS}
    versions = []
    for v in await service.store.get_versions(record.id):
        material = None if v.material is None else service.version_material(record, v).expose_secret()
        versions.append({
            "version": v.version, "created_at": v.created_at, "state": v.state, "expires_at": v.expires_at,
            "public_key": _b64(v.public_key), "material": _b64(material),
        })  # fmt: skip
    entry["versions"] = versions
    return entry


def _not_backed_up(name: str) -> Forbidden:
    return Forbidden(
        f"{name!r} may not be backed up: its policy has allow_backup=false "
        "(fixed when the key was created; it cannot be turned on)"
    )


async def backup(
    service: "KeyService",
    tenant: str | None = None,
    names: Sequence[str] | None = None,
    *,
    recipient: str,
    principal: object = None,
) -> BackupResult:
    """One encrypted bundle of the named keys of a tenant, a whole tenant, or every tenant (None),
    for the registered backup recipient named ``recipient``.

    A named key whose policy does not allow backup is refused (Forbidden, naming it); a backup of
    a whole tenant (or store) leaves such keys out and lists them in ``skipped``.
    """
    from skms.keys.service import WALLET_TYPE

    if tenant is not None:
        check_tenant(tenant)
    if isinstance(names, str):
        raise InvalidType("names is a list of key names, not one string")
    if not isinstance(recipient, str) or not recipient:
        raise InvalidInput(RAW_KEY_REFUSED, field="recipient")
    service.sealer.root()
    included: list[KeyRecord] = []
    skipped: list[KeyRecord] = []
    if names is not None:
        if tenant is None:
            raise InvalidInput("a backup of named keys needs their tenant")
        if not names:  # nothing named is still a backup: whoever asks needs the right to back up
            await service.guard.check(principal, "key:Backup", tenant, "key:*")
        for name in dict.fromkeys(names):

            async def one(name: str = name, tenant: str = tenant) -> None:
                record = await service.store.get_key(tenant, name)  # fresh: the policy decides
                if backend_of(record) != SOFTWARE:
                    raise Forbidden(f"{name!r} lives in the HSM: its material never leaves the token, so no backup")
                if not backup_allowed(record.policy):
                    raise _not_backed_up(name)
                included.append(record)

            # The guard audits each key's outcome, a refusal by its policy included.
            await service.guard.run(principal, "key:Backup", tenant, f"key:{name}", one, [recipient])
    else:

        async def every() -> None:
            for record in await _selected(service, tenant):
                wanted = backup_allowed(record.policy) and backend_of(record) == SOFTWARE
                (included if wanted else skipped).append(record)

        await service.guard.run(principal, "key:Backup", tenant or "*", "key:*", every, [recipient])
        if any(r.type == WALLET_TYPE for r in included):  # key:Backup alone does not reach wallets
            await service.guard.check(principal, "wallet:Backup", tenant or "*", "wallet:*")
    try:
        chosen = await service.store.get_backup_recipient(_registry_tenant(tenant), recipient)
    except NotFound:
        raise NotFound(
            f"no backup recipient named {recipient!r}; an admin registers one with POST /v1/backup/recipients"
        ) from None
    keys = [await _entry(service, record) for record in included]
    payload = json.dumps({"format": FORMAT_VERSION, "created_at": service.clock(), "keys": keys}).encode()
    bundle = seal_bundle(payload, chosen.public_key)
    label = (lambda r: r.name) if tenant is not None else (lambda r: f"{r.tenant}/{r.name}")
    return BackupResult(bundle, chosen.name, tuple(map(label, included)), tuple(map(label, skipped)))


# -- restore --------------------------------------------------------------------------------------


def _parse(payload: bytes) -> list[dict[str, Any]]:
    try:
        document = json.loads(payload)
        keys = document["keys"]
        if document.get("format") != FORMAT_VERSION or not isinstance(keys, list):
            raise ValueError("unknown layout")
        for entry in keys:
            missing = [f for f in (*_KEY_FIELDS, "versions") if f not in entry]
            if missing:
                raise ValueError("a key lacks fields")
            for v in entry["versions"]:
                v["public_key"] = _unb64(v["public_key"])
                v["material"] = _unb64(v["material"])
                int(v["version"])
    # RecursionError: the author of a payload may be the caller (any backup key pair), nesting it deeply.
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, RecursionError):
        raise IntegrityError("the backup payload is not in the layout this SKMS reads") from None
    return keys


async def restore(
    service: "KeyService",
    bundle: bytes,
    backup_private_key: SecretBytes | bytes,
    *,
    tenant_map: dict[str, str] | None = None,
    overwrite: bool = False,
    principal: object = None,
) -> dict[str, int]:
    """Recreates every key of a bundle; returns counts of keys, versions and replaced keys.

    A key whose (mapped) tenant already has that name is refused with Conflict before anything is
    written, unless ``overwrite`` replaces it. Checks run before the first write; the keys are
    then written one transaction each.
    """
    from skms.keys.service import WALLET_TYPE

    # Anyone can make a bundle for a key pair of their own: restoring is an admin's act (it can put
    # known material under a key's name), checked before the bundle is even opened.
    await service.guard.check(principal, "key:Restore", str(getattr(principal, "tenant", "*")), "key:*")
    entries = _parse(open_bundle(bundle, backup_private_key))
    mapping = dict(tenant_map or {})
    store = service.store
    targets: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in entries:
        tenant = check_tenant(mapping.get(entry["tenant"], entry["tenant"]))
        name = check_name(entry["name"])
        meta = entry["meta"]
        if isinstance(meta, dict) and meta.get("backend", SOFTWARE) != SOFTWARE:
            # Bundles hold material: a key recorded as living elsewhere (an HSM) never comes from one.
            raise InvalidInput(
                f"the bundle's key {name!r} claims backend {meta.get('backend')!r}; bundles hold software keys only"
            )
        if entry["type"] == WALLET_TYPE:
            await service.guard.check(principal, "wallet:Restore", tenant, f"wallet:{name}")
        else:
            await service.guard.check(principal, "key:Restore", tenant, f"key:{name}")
            service.crypto_policy.check(entry["type"])
        entry["policy"] = _restored_policy(entry["policy"])
        if (tenant, name) in targets:
            raise InvalidInput(f"the tenant map sends two keys named {name!r} to tenant {tenant!r}")
        targets[(tenant, name)] = entry
    existing: dict[tuple[str, str], KeyRecord] = {}
    for (tenant, name), entry in targets.items():
        try:
            current = existing[(tenant, name)] = await store.get_key(tenant, name)
        except NotFound:
            continue
        if not overwrite:
            raise Conflict(f"tenant {tenant!r} already has a key named {name!r}; restore with overwrite=True")
        if backend_of(current) != SOFTWARE:  # its token objects would outlive it unreferenced
            raise Conflict(f"{name!r} of tenant {tenant!r} lives in the HSM: a backup cannot replace it")
        refusal = KeyPolicy.from_dict(entry["policy"]).loosened_from(current.policy)
        if refusal is not None:  # a bundle cannot do what PATCH may not
            raise Conflict(f"restoring over {name!r} of tenant {tenant!r} is refused: {refusal}")
    root, root_id = service.sealer.root()

    counts = {"keys": 0, "versions": 0, "replaced": 0}
    for (tenant, name), entry in targets.items():
        old = existing.get((tenant, name))
        key_id = await _free_id(service, entry["id"], old)
        if old is not None and old.id == key_id:
            # The same key id keeps its data key: every node may hold it in its cache.
            dek, wrapped_dek, dek_root = service.data_key(old), old.wrapped_dek, old.root_id
        else:
            dek = await envelope.fresh_dek()
            wrapped_dek, dek_root = envelope.wrap_dek(root, root_id, tenant, key_id, dek), root_id
        record = KeyRecord(
            id=key_id, tenant=tenant, name=name, type=entry["type"], purpose=entry["purpose"],
            labels=dict(entry["labels"]), policy=dict(entry["policy"]), state=entry["state"],
            latest_version=int(entry["latest_version"]), min_version=int(entry["min_version"]),
            created_at=entry["created_at"], updated_at=entry["updated_at"],
            wrapped_dek=wrapped_dek, root_id=dek_root,
            next_rotation_at=entry["next_rotation_at"], deletion_at=entry["deletion_at"],
            destroyed_at=entry["destroyed_at"], meta=dict(entry["meta"]),
        )  # fmt: skip
        versions = [_version(dek, record, v) for v in entry["versions"]]
        if old is None:
            await store.create_key(record, versions)
        else:
            await store.replace_key(old.id, record, versions)
            counts["replaced"] += 1
        service.changed(tenant, name)
        counts["keys"] += 1
        counts["versions"] += len(versions)
    return counts


def _restored_policy(policy: object) -> dict[str, Any]:
    """A bundle's policy, checked, with every flag as it was (a bundle from before ``allow_backup``
    existed gets the value its key had then: that of ``exportable``)."""
    if not isinstance(policy, dict):
        raise IntegrityError("the backup payload is not in the layout this SKMS reads")
    parsed = KeyPolicy.from_dict(policy)
    if parsed.allow_backup is None:
        return {**parsed.to_dict(), "allow_backup": backup_allowed(policy)}
    return parsed.to_dict()


def _version(dek: SecretBytes, record: KeyRecord, v: dict[str, Any]) -> VersionRecord:
    number = int(v["version"])
    material = v["material"]
    blob = None
    if material is not None:
        blob = envelope.encrypt_material(dek, record.tenant, record.id, number, record.type, record.purpose, material)
    return VersionRecord(record.id, number, v["created_at"], v["state"], blob, v["public_key"], v["expires_at"])


async def _free_id(service: "KeyService", wanted: str, replacing: KeyRecord | None) -> str:
    """The backed-up key id if the target does not use it for another key, else a new one."""
    if replacing is not None and replacing.id == wanted:
        return wanted
    try:
        await service.store.get_key_by_id(wanted)
    except NotFound:
        return wanted
    return str(uuid.uuid4())


# -- escrow ---------------------------------------------------------------------------------------


def split_backup_key(
    private_key: SecretBytes | bytes, threshold: int, shares: int, *, passphrase: str = ""
) -> list[str]:
    """M-of-N SLIP-39 mnemonic shares of the backup private key (optionally passphrase-protected)."""
    key = _backup_private_key(private_key).export("raw")
    assert isinstance(key, bytes)
    for value, what in ((threshold, "threshold"), (shares, "shares")):
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidType(f"{what} must be an integer")
    if not 1 <= threshold <= shares <= 16:
        raise InvalidInput(f"escrow needs 1 <= threshold <= shares <= 16, got {threshold} of {shares}")
    if threshold == 1 and shares > 1:
        raise InvalidInput("SLIP-39 has no 1-of-N sharing for N > 1: each share would be the key itself")
    groups = shamir_mnemonic.generate_mnemonics(1, [(threshold, shares)], key, passphrase=passphrase.encode())
    return list(groups[0])


def _share_problem(message: str) -> str:
    text = message.lower()
    if "insufficient" in text or "wrong number" in text or "empty" in text:
        return "too few shares"
    if "checksum" in text or "mnemonic word" in text or "length" in text or "padding" in text:
        return "a share is mistyped or damaged"
    return "the shares are from different sets, repeated, or inconsistent"


def recover_backup_key(
    mnemonics: Iterable[str], *, passphrase: str = "", public_key: bytes | None = None
) -> SecretBytes:
    """The backup private key from any ``threshold`` of its SLIP-39 shares.

    A wrong passphrase gives a different key (SLIP-39 has no passphrase check): give the backup
    ``public_key`` to have it checked, or restore fails with IntegrityError.
    """
    shares = list(mnemonics)
    if not all(isinstance(s, str) for s in shares):
        raise InvalidType("shares are mnemonic strings")
    try:
        secret = SecretBytes(shamir_mnemonic.combine_mnemonics(enough_shares(shares), passphrase=passphrase.encode()))
    except (shamir_mnemonic.MnemonicError, ValueError) as e:
        raise InvalidInput(f"the shares do not recover a backup key: {_share_problem(str(e))}") from None
    try:
        key = XWingKey.load(secret)
    except InvalidKey:
        raise InvalidInput("the shares recover a secret that is not a backup private key") from None
    if public_key is not None and key.public_key().export("raw") != public_key:
        raise IntegrityError("the recovered key does not match the backup public key (wrong passphrase?)")
    return secret


__all__ = [
    "BACKUP_KEY_TYPE",
    "FORMAT_VERSION",
    "MAGIC",
    "RAW_KEY_REFUSED",
    "BackupRecipient",
    "BackupResult",
    "backup",
    "create_backup_keypair",
    "delete_recipient",
    "list_recipients",
    "open_bundle",
    "public_key_fingerprint",
    "recover_backup_key",
    "register_recipient",
    "restore",
    "seal_bundle",
    "split_backup_key",
]
