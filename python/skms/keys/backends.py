"""Where key material comes from: one interface, :class:`KeyBackend`, two implementations.

* :class:`SoftwareBackend` (``"software"``): envelope encryption. The root key wraps each key's
  data key, the data key encrypts each version's material (:mod:`skms.keys.envelope`); the
  material is decrypted into a key object held in this process for the operations.
* :class:`skms.keys.hsm_backend.Pkcs11Backend` (``"hsm"``): the key is an object in a PKCS#11
  token that never leaves it; the store keeps only an authenticated reference to it.

A key records its backend in ``meta["backend"]`` (absent: software, as every key made before
the seam). :class:`~skms.keys.service.KeyService` checks state, policy and version, then hands
the operation to the key's backend: ``load`` a version into a handle, then ``sign``, ``verify``,
``encrypt``, ``decrypt`` with it; ``destroy`` ends versions' material.
"""

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from skms._native import SecretBytes
from skms.crypto import registry
from skms.crypto.keys import AeadKey, Key, PrivateKey
from skms.crypto.memory import exposed, wipe
from skms.crypto.random import run_generation
from skms.errors import IntegrityError, InvalidInput, InvalidSignature, InvalidState, UnsupportedOperation
from skms.keys import envelope
from skms.keys.cache import TtlCache
from skms.keys.seal import Sealer
from skms.storage.base import KeyRecord, VersionRecord

SOFTWARE = "software"
HSM = "hsm"
BACKENDS = (SOFTWARE, HSM)
WALLET_TYPE = "hd-wallet"

#: Types whose key generation takes milliseconds to seconds (RSA primes, Falcon's NTRU solve):
#: generated on a thread, never on the event loop.
SLOW_KEYGEN = ("rsa-", "falcon-")

#: Called with (what failed, record, version, error); returns the exception to raise.
Corrupted = Callable[[str, KeyRecord, int | None, Exception], Exception]


def backend_of(record: KeyRecord) -> str:
    """The backend a key was made in (keys from before the seam have none recorded: software)."""
    value = record.meta.get("backend", SOFTWARE)
    return value if isinstance(value, str) else SOFTWARE


class KeyBackend(Protocol):
    """Where a key's material lives and where its operations run."""

    name: str

    def load(self, record: KeyRecord, version: VersionRecord) -> Any:
        """A handle of one version for the operations below (the service caches it)."""
        ...

    async def sign(self, key: Any, type: str, message: bytes, prehashed: bool) -> bytes: ...

    async def sign_batch(self, key: Any, messages: list[bytes]) -> list[bytes]: ...

    async def verify(self, key: Any, type: str, message: bytes, signature: bytes, prehashed: bool) -> bool: ...

    async def encrypt(self, key: Any, plaintext: bytes | SecretBytes, associated_data: bytes) -> bytes: ...

    async def decrypt(self, key: Any, data: bytes, associated_data: bytes) -> bytes: ...

    async def destroy(self, record: KeyRecord, versions: Sequence[VersionRecord]) -> None:
        """Ends the material of ``versions`` where it lives (before the store forgets them)."""
        ...


async def generate(alg: registry.Algorithm) -> Any:
    """A new key of ``alg``; slow generations, and every one that draws from a random source that
    may block (hsm_random: the token's generator), run off the event loop."""
    if alg.id.startswith(SLOW_KEYGEN):
        return await asyncio.to_thread(alg.key_class.generate)
    return await run_generation(alg.key_class.generate)


def public_bytes(key: Key, alg: registry.Algorithm) -> bytes | None:
    """The stored form of a private key's public key: SPKI DER for RSA, raw otherwise."""
    if not isinstance(key, PrivateKey):
        return None
    exported = key.public_key().export(public_format(alg))
    assert isinstance(exported, bytes)
    return exported


def public_format(alg: registry.Algorithm) -> str:
    return "spki-der" if alg.family == "rsa" else "raw"


async def verify_with(public: Any, type: str, message: bytes, signature: bytes, prehashed: bool) -> bool:
    """Verification with a public key object: the same for every backend (public keys are public)."""
    try:
        if prehashed:
            if not hasattr(public, "verify_digest"):
                raise UnsupportedOperation(f"{type} keys verify messages, not digests")
            return bool(public.verify_digest(message, signature))
        return bool(public.verify(message, signature))
    except InvalidSignature:
        return False


def rsa_encrypt(public: Any, plaintext: bytes | SecretBytes, associated_data: bytes) -> bytes:
    """RSA-OAEP with a public key object; a SecretBytes (a data key) is lent in a buffer wiped afterwards."""
    if associated_data:
        raise InvalidInput("RSA-OAEP encryption takes no associated data")
    if isinstance(plaintext, SecretBytes):
        with exposed(plaintext) as buffer:
            copy = bytes(buffer)  # cryptography's RSA takes bytes only: wiped after the call
            try:
                return public.encrypt(copy)  # type: ignore[no-any-return]
            finally:
                wipe(copy)
    return public.encrypt(plaintext)  # type: ignore[no-any-return]


class SoftwareBackend:
    """Envelope encryption: material decrypted with the key's data key into key objects in memory."""

    name = SOFTWARE

    def __init__(self, sealer: Sealer, deks: TtlCache[SecretBytes], corrupted: Corrupted) -> None:
        self.sealer = sealer
        self.deks = deks
        self.corrupted = corrupted

    # -- the envelope -------------------------------------------------------------------------

    def new_data_key(self, record: KeyRecord, dek: SecretBytes) -> None:
        """Remembers the data key of a key just made (its wrapped form is in ``record``)."""
        self.deks.put((record.id, record.root_id, "dek"), dek)

    def data_key(self, record: KeyRecord) -> SecretBytes:
        cache_key = (record.id, record.root_id, "dek")
        dek = self.deks.get(cache_key)
        if dek is None:
            try:
                root = self.sealer.root_for(record.root_id)
                dek = envelope.unwrap_dek(root, record.root_id, record.tenant, record.id, record.wrapped_dek)
            except IntegrityError as e:
                raise self.corrupted("data key", record, None, e) from None
            self.deks.put(cache_key, dek)
        return dek

    def material(self, record: KeyRecord, version: VersionRecord) -> SecretBytes:
        """The decrypted material of one version."""
        if version.material is None:
            raise InvalidState(f"version {version.version} of {record.name!r} is destroyed")
        dek = self.data_key(record)
        try:
            return envelope.decrypt_material(
                dek, record.tenant, record.id, version.version, record.type, record.purpose, version.material
            )
        except IntegrityError as e:
            raise self.corrupted("key material", record, version.version, e) from None

    def seal(self, record: KeyRecord, number: int, material: SecretBytes) -> bytes:
        """The stored form of version ``number``'s material."""
        return envelope.encrypt_material(
            self.data_key(record), record.tenant, record.id, number, record.type, record.purpose, material
        )

    async def generate(self, alg: registry.Algorithm) -> tuple[SecretBytes, bytes | None]:
        """(material, stored public key) of a new key of ``alg``."""
        key = await generate(alg)
        return key.export_secret(alg.storage_format), public_bytes(key, alg)  # never a Python copy of the key

    # -- KeyBackend ---------------------------------------------------------------------------

    def load(self, record: KeyRecord, version: VersionRecord) -> Any:
        material = self.material(record, version)
        if record.type == WALLET_TYPE:
            from skms.keys import wallets

            return wallets.WalletRoot.from_material(material, record.meta)
        alg = registry.get(record.type)
        return alg.key_class.load(material, alg.storage_format)

    async def sign(self, key: Any, type: str, message: bytes, prehashed: bool) -> bytes:
        if prehashed:
            if not hasattr(key, "sign_digest"):
                raise UnsupportedOperation(f"{type} keys sign messages, not digests")
            return key.sign_digest(message)  # type: ignore[no-any-return]
        return key.sign(message)  # type: ignore[no-any-return]

    async def sign_batch(self, key: Any, messages: list[bytes]) -> list[bytes]:
        if len(messages) > 64:
            return await asyncio.to_thread(key.sign_batch, messages)
        return key.sign_batch(messages)  # type: ignore[no-any-return]

    async def verify(self, key: Any, type: str, message: bytes, signature: bytes, prehashed: bool) -> bool:
        return await verify_with(key.public_key(), type, message, signature, prehashed)

    async def encrypt(self, key: Any, plaintext: bytes | SecretBytes, associated_data: bytes) -> bytes:
        if isinstance(key, AeadKey):
            return key.encrypt(plaintext, associated_data)
        return rsa_encrypt(key.public_key(), plaintext, associated_data)

    async def decrypt(self, key: Any, data: bytes, associated_data: bytes) -> bytes:
        if isinstance(key, AeadKey):
            return key.decrypt(data, associated_data)
        return key.decrypt(data)  # type: ignore[no-any-return]

    async def destroy(self, record: KeyRecord, versions: Sequence[VersionRecord]) -> None:
        """Nothing outside the store: the store's destroy drops the encrypted material."""


__all__ = [
    "BACKENDS",
    "HSM",
    "SLOW_KEYGEN",
    "SOFTWARE",
    "KeyBackend",
    "SoftwareBackend",
    "backend_of",
    "generate",
    "public_bytes",
    "public_format",
    "rsa_encrypt",
    "verify_with",
]
