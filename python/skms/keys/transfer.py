"""Bring your own key (import) and export of key material, in the spirit of AWS KMS import.

Import takes two calls. :func:`get_import_parameters` creates a fresh wrapping key pair, kept like
any other key (envelope-encrypted, in the internal tenant :data:`INTERNAL_TENANT`), and an import
token naming it; the caller wraps the material for the wrapping public key and hands the result
with the token to :func:`import_key`. A token belongs to one tenant, expires (24 hours by default)
and is spent by the first import attempt that gets as far as decryption, whether it succeeds or
not: no one gets a decryption oracle for the wrapping key. The wrapping key's material is destroyed
with its token (and by :meth:`KeyService.run_due` once the token has expired).

Export (:func:`export_key`) wraps a version's material for a recipient public key, with the same
wire formats, only when the key's policy says ``exportable``. Exported material imports into
another SKMS unchanged.

Wire formats (``wrapped`` is what import takes and export returns):

``rsa-oaep-3072-sha256``
    RSA-OAEP (SHA-256, MGF1-SHA-256, empty label) of the material itself: at most
    k − 66 bytes, 318 for RSA-3072. For symmetric keys and short private keys.
``rsa-aes-kwp-3072``
    RSA-OAEP-SHA-256 of a fresh 32-byte AES key (k bytes, 384 for RSA-3072) ‖ AES key wrap with
    padding (RFC 5649) of the material under that key. Any length; AWS KMS calls it
    RSA_AES_KEY_WRAP_SHA_256, PKCS#11 CKM_RSA_AES_KEY_WRAP.
``ml-kem-768-aes-kwp``
    ML-KEM-768 ciphertext (1088 bytes) ‖ AES-KWP of the material under
    HKDF-SHA256(shared secret, no salt, info ``skms-import``, 32 bytes).
``x25519+ml-kem-768-aes-kwp``
    The same with an X-Wing (X25519 + ML-KEM-768) ciphertext (1120 bytes).

Wrapping public keys are SPKI DER for RSA (3072 bits or more for export recipients) and raw
for ML-KEM-768 (1184 bytes) and X-Wing (1216 bytes).

The material is the key type's storage form (:attr:`skms.crypto.registry.Algorithm.storage_format`:
raw bytes, PKCS#8 DER for RSA) unless ``format`` names another; for wallets it is the 64-byte
BIP39 seed followed by the mnemonic entropy when the wallet has one, or a BIP32 seed of 16 to 63
bytes.
"""

import asyncio
import contextlib
import json
import secrets
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from skms._native import SecretBytes
from skms.crypto import kdf, keywrap, registry
from skms.crypto.keys import KemPublicKey, require_bytes
from skms.crypto.memory import take, wipe
from skms.errors import (
    Conflict,
    IntegrityError,
    InvalidInput,
    InvalidKey,
    InvalidType,
    NotFound,
    PolicyViolation,
    UnsupportedOperation,
)
from skms.keys.model import KeyPolicy, KeyState, check_labels, check_name, is_exportable
from skms.storage.base import ImportTokenRecord, KeyRecord

if TYPE_CHECKING:
    from skms.keys.service import KeyInfo, KeyService

#: The tenant that holds SKMS's own keys (import wrapping keys). Interfaces must not let callers use it.
INTERNAL_TENANT = "__skms"
#: How long an import token and its wrapping key stay usable, by default.
IMPORT_TOKEN_TTL = 24 * 3600
MAX_IMPORT_TOKEN_TTL = 7 * 24 * 3600

RSA_OAEP = "rsa-oaep-3072-sha256"
RSA_AES_KWP = "rsa-aes-kwp-3072"
MLKEM_AES_KWP = "ml-kem-768-aes-kwp"
XWING_AES_KWP = "x25519+ml-kem-768-aes-kwp"

#: Each wrapping algorithm and the registry type of its wrapping key.
WRAPPING_ALGORITHMS: dict[str, str] = {
    RSA_OAEP: "rsa-3072",
    RSA_AES_KWP: "rsa-3072",
    MLKEM_AES_KWP: "ml-kem-768",
    XWING_AES_KWP: "x25519+ml-kem-768",
}

HKDF_INFO = b"skms-import"
_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
_OAEP_OVERHEAD = 2 * 32 + 2  # RSA-OAEP with SHA-256
_KEM_CIPHERTEXT = {MLKEM_AES_KWP: 1088, XWING_AES_KWP: 1120}
_SEED = 64  # wallets.SEED
_ENTROPY_SIZES = (0, 16, 20, 24, 28, 32)


def _wrapping_type(algorithm: object) -> str:
    try:
        return WRAPPING_ALGORITHMS[algorithm]  # type: ignore[index]
    except (KeyError, TypeError):
        raise InvalidInput(
            f"unknown wrapping algorithm {algorithm!r}; expected one of {', '.join(WRAPPING_ALGORITHMS)}"
        ) from None


def check_tenant(tenant: object) -> str:
    """The tenant if a caller may name it: a non-empty string, and not SKMS's own internal tenant."""
    if not isinstance(tenant, str) or not tenant:
        raise InvalidInput("a tenant is a non-empty string")
    if tenant == INTERNAL_TENANT:
        raise PolicyViolation(f"the tenant {INTERNAL_TENANT!r} is reserved for SKMS itself")
    return tenant


def _rsa_encrypt(recipient: rsa.RSAPublicKey, plain: bytes | SecretBytes) -> bytes:
    """RSA-OAEP of ``plain``; ``cryptography`` takes bytes only, so a secret's copy is wiped after."""
    if not isinstance(plain, SecretBytes):
        return recipient.encrypt(plain, _OAEP)
    copy = plain.expose_secret()
    try:
        return recipient.encrypt(copy, _OAEP)
    finally:
        wipe(copy)


def _kek(shared: SecretBytes) -> SecretBytes:
    return kdf.hkdf(shared, 32, None, HKDF_INFO)


# -- the wire formats ---------------------------------------------------------------------------


def _rsa_recipient(public_key: bytes) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_der_public_key(public_key)
    except (ValueError, TypeError):
        raise InvalidKey("the recipient public key is not an SPKI DER public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidKey("the recipient public key is not an RSA key")
    if key.key_size < 3072:
        raise InvalidKey(f"RSA recipient keys need at least 3072 bits, got {key.key_size}")
    return key


def wrap_material(algorithm: str, public_key: bytes, material: bytes | SecretBytes) -> bytes:
    """Wraps key material for ``public_key`` (the client side of an import, and export)."""
    wrapping_type = _wrapping_type(algorithm)
    require_bytes(public_key, "the wrapping public key")
    plain = material
    if not isinstance(plain, bytes | SecretBytes):
        raise InvalidType(f"the key material must be bytes or SecretBytes, got {type(plain).__name__}")
    if not len(plain):
        raise InvalidInput("the key material is empty")
    if algorithm in (RSA_OAEP, RSA_AES_KWP):
        recipient = _rsa_recipient(public_key)
        if algorithm == RSA_OAEP:
            limit = recipient.key_size // 8 - _OAEP_OVERHEAD
            if len(plain) > limit:
                raise InvalidInput(
                    f"{algorithm} wraps at most {limit} bytes, the material has {len(plain)}; use {RSA_AES_KWP}"
                )
            return _rsa_encrypt(recipient, plain)
        aes = SecretBytes.random(32)
        return _rsa_encrypt(recipient, aes) + keywrap.wrap_key(aes, plain, padding=True)
    kem: KemPublicKey = registry.load_public_key(wrapping_type, public_key, "raw")  # type: ignore[assignment]
    shared, ciphertext = kem.encapsulate()
    return ciphertext + keywrap.wrap_key(_kek(shared), plain, padding=True)


def unwrap_material(algorithm: str, private_key: Any, wrapped: bytes) -> SecretBytes:
    """Undoes :func:`wrap_material` with the wrapping private key object; IntegrityError otherwise."""
    _wrapping_type(algorithm)
    if algorithm == RSA_OAEP:
        return take(private_key.decrypt(wrapped))
    if algorithm == RSA_AES_KWP:
        size = private_key.public_key().bits // 8
        if len(wrapped) <= size:
            raise IntegrityError(f"{algorithm} data is shorter than its RSA block")
        aes = take(private_key.decrypt(wrapped[:size]))
        if len(aes) != 32:
            raise IntegrityError(f"{algorithm} data does not carry a 32-byte AES key")
        return _kwp_unwrap(aes, wrapped[size:])
    size = _KEM_CIPHERTEXT[algorithm]
    if len(wrapped) <= size:
        raise IntegrityError(f"{algorithm} data is shorter than its KEM ciphertext")
    shared = private_key.decapsulate(wrapped[:size])
    return _kwp_unwrap(_kek(shared), wrapped[size:])


def _kwp_unwrap(kek: SecretBytes, wrapped: bytes) -> SecretBytes:
    try:
        return keywrap.unwrap_key(kek, wrapped, padding=True)
    except ValueError:  # odd lengths that cryptography rejects before unwrapping
        raise IntegrityError("key unwrap failed: wrong wrapping key or altered data") from None


# -- import ---------------------------------------------------------------------------------------


async def get_import_parameters(
    service: "KeyService",
    tenant: str,
    wrapping_algorithm: str,
    *,
    ttl: int = IMPORT_TOKEN_TTL,
    principal: object = None,
) -> tuple[str, bytes, float]:
    """A new import token, the wrapping public key and the token's expiry (clock seconds)."""
    await service.guard.check(principal, "key:Import", tenant, "key:*")
    check_tenant(tenant)
    wrapping_type = _wrapping_type(wrapping_algorithm)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 60 <= ttl <= MAX_IMPORT_TOKEN_TTL:
        raise InvalidInput(f"an import token lives 60 to {MAX_IMPORT_TOKEN_TTL} seconds, got {ttl!r}")
    alg = service.crypto_policy.check(wrapping_type)
    service.sealer.root()
    key = await asyncio.to_thread(alg.key_class.generate)  # RSA key generation takes a while
    material = key.export_secret(alg.storage_format)
    token_id = secrets.token_urlsafe(32)
    expires_at = service.clock() + ttl
    info = await service.insert_material(
        INTERNAL_TENANT, f"import-{uuid.uuid4()}", wrapping_type, material,
        purpose="encrypt" if alg.family == "rsa" else "kem", labels={"skms.use": "import-wrapping"},
    )  # fmt: skip
    record = await service.store.get_key(INTERNAL_TENANT, info.name)
    # The wrapping key goes with its token: run_due destroys it once the token has expired.
    await service.store.update_key(replace(record, deletion_at=expires_at))
    await service.store.put_import_token(ImportTokenRecord(token_id, tenant, info.id, wrapping_algorithm, expires_at))
    public = info.versions[0].public_key
    assert public is not None
    return token_id, public, expires_at


async def _retire_wrapping_key(service: "KeyService", key_id: str) -> None:
    try:
        record = await service.store.get_key_by_id(key_id)
    except NotFound:
        return
    if record.state != KeyState.DESTROYED:
        with contextlib.suppress(Conflict):  # destroyed concurrently (run_due on another node)
            await service.destroy_now(record)


def _import_material(type: str, material: SecretBytes, format: str | None) -> tuple[SecretBytes, dict[str, Any] | None]:
    """The material in storage form (and wallet metadata), from what the caller wrapped."""
    from skms.keys import wallets
    from skms.keys.service import WALLET_TYPE

    if type == WALLET_TYPE:
        if format is not None:
            raise InvalidInput("wallet material has one form: seed ‖ entropy, or a BIP32 seed")
        if len(material) < _SEED:
            root = wallets.WalletRoot.from_seed(material.expose_secret())
            return root.material(), root.meta()
        if len(material) - _SEED not in _ENTROPY_SIZES:
            raise InvalidInput("wallet material is a 64-byte seed, then 0 or 16-32 bytes of BIP39 entropy")
        return material, None
    alg = registry.get(type)
    if format is None or format == alg.storage_format:
        return material, None
    data: Any = material
    if format.endswith(("-der", "-pem")):
        data = material.expose_secret()
    elif format == "jwk":
        try:
            data = json.loads(material.expose_secret())
        except ValueError:
            raise InvalidInput("the imported material is not a JWK (JSON)") from None
    exported = alg.key_class.load(data, format).export(alg.storage_format)
    assert isinstance(exported, bytes)
    return SecretBytes(exported), None


async def import_key(
    service: "KeyService",
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
) -> "KeyInfo":
    """Unwraps material wrapped for an import token's key and stores it as a new key (version 1)."""
    from skms.keys.service import WALLET_TYPE

    await service.guard.check(principal, "key:Import", tenant, f"key:{name}")
    check_tenant(tenant)
    check_name(name)
    # Everything that can be checked before the token is spent is checked here.
    if type != WALLET_TYPE:
        alg = service.crypto_policy.check(type)
        if purpose is not None and purpose not in {p.value for p in alg.purposes}:
            raise InvalidInput(f"a {type} key cannot have purpose {purpose!r}")
    check_labels(labels)
    KeyPolicy.from_dict(policy)
    require_bytes(wrapped_material, "wrapped material")
    if not isinstance(import_token, str) or not import_token:
        raise InvalidInput("the import token is a non-empty string")
    service.sealer.root()
    try:
        await service.store.get_key(tenant, name)
    except NotFound:
        pass
    else:
        raise Conflict(f"a key named {name!r} already exists")

    token = await service.store.get_import_token(import_token)
    if token.tenant != tenant:
        raise NotFound("no such import token (unknown, or already used)")
    if token.expires_at <= service.clock():
        if await service.store.delete_import_token(token.id):
            await _retire_wrapping_key(service, token.wrapping_key_id)
        raise PolicyViolation("the import token expired; get new import parameters")
    if not await service.store.delete_import_token(token.id):  # exactly one caller spends it
        raise NotFound("no such import token (unknown, or already used)")

    try:
        wrapping = await service.store.get_key_by_id(token.wrapping_key_id)
        versions = await service.store.get_versions(wrapping.id)
        if not versions or versions[0].material is None:
            raise NotFound("the import token's wrapping key is gone; get new import parameters")
        walg = registry.get(wrapping.type)
        private = walg.key_class.load(service.version_material(wrapping, versions[0]), walg.storage_format)
    finally:
        await _retire_wrapping_key(service, token.wrapping_key_id)
    material = unwrap_material(token.algorithm, private, wrapped_material)
    material, meta = _import_material(type, material, format)
    return await service.insert_material(
        tenant, name, type, material, purpose=purpose, labels=labels, policy=policy, meta=meta
    )


# -- export ---------------------------------------------------------------------------------------


async def _exportable(service: "KeyService", tenant: str, name: str) -> KeyRecord:
    check_tenant(tenant)
    record = await service.store.get_key(tenant, name)  # fresh: the policy decides
    if not is_exportable(record.policy):
        raise PolicyViolation(f"{name!r} is not exportable (its policy has exportable=false)")
    if record.state == KeyState.DESTROYED:
        raise UnsupportedOperation(f"{name!r} is destroyed: its material is gone")
    return record


async def _version_material(service: "KeyService", record: KeyRecord, version: int | None) -> tuple[int, SecretBytes]:
    versions = {v.version: v for v in await service.store.get_versions(record.id)}
    if version is None:
        enabled = [v.version for v in versions.values() if v.state == "enabled"]
        if not enabled:
            raise UnsupportedOperation(f"{record.name!r} has no enabled version")
        version = max(enabled)
    if not isinstance(version, int) or isinstance(version, bool) or version not in versions:
        raise NotFound(f"{record.name!r} has no version {version}")
    return version, service.version_material(record, versions[version])


async def export_key(
    service: "KeyService",
    tenant: str,
    name: str,
    recipient_public_key: bytes,
    recipient_algorithm: str,
    version: int | None = None,
    *,
    principal: object = None,
) -> bytes:
    """A version's material (the newest enabled by default) wrapped for a recipient public key."""
    from skms.keys.service import WALLET_TYPE

    await service.guard.check(principal, "key:Export", tenant, f"key:{name}")
    service.crypto_policy.check(_wrapping_type(recipient_algorithm))
    record = await _exportable(service, tenant, name)
    _, material = await _version_material(service, record, version)
    if record.type == WALLET_TYPE:
        seed_length = int(record.meta.get("seed_length", _SEED))
        if seed_length < _SEED:  # a BIP32 seed shorter than 64 bytes travels as itself
            material = SecretBytes(material.expose_secret()[:seed_length])
    return wrap_material(recipient_algorithm, recipient_public_key, material)


async def export_wallet_phrase(service: "KeyService", tenant: str, name: str, *, principal: object = None) -> str:
    """The BIP39 phrase of an exportable wallet (the passphrase, if any, is not stored)."""
    from skms.keys import wallets
    from skms.keys.service import WALLET_TYPE

    await service.guard.check(principal, "wallet:Export", tenant, f"wallet:{name}")
    record = await _exportable(service, tenant, name)
    if record.type != WALLET_TYPE:
        raise UnsupportedOperation(f"{name!r} is a {record.type} key, not a wallet")
    _, material = await _version_material(service, record, None)
    return wallets.WalletRoot.from_material(material, record.meta).phrase()


__all__ = [
    "HKDF_INFO",
    "IMPORT_TOKEN_TTL",
    "INTERNAL_TENANT",
    "WRAPPING_ALGORITHMS",
    "check_tenant",
    "export_key",
    "export_wallet_phrase",
    "get_import_parameters",
    "import_key",
    "unwrap_material",
    "wrap_material",
]
