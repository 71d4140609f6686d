"""HSM-resident keys: the ``"hsm"`` :class:`~skms.keys.backends.KeyBackend`, on :class:`skms.hsm.Hsm`.

Each key version is its own object in the token (a key pair's two halves, or an AES-256 key),
generated there with ``CKA_SENSITIVE=true`` and ``CKA_EXTRACTABLE=false``, labelled
``skms:<key id>:v<N>:<8 hex>`` with a random 16-byte ``CKA_ID``. The random tail makes every
creation attempt its own object: two racing rotations, or a retry after a crash, never meet
an object they did not make. The store keeps the reference (kind, label, id) encrypted and
authenticated with the key's data key under a label of its own (:func:`envelope.encrypt_reference`),
so a reference cannot be moved to another key, version or backend.

Order of writes: the object first, the key row after it. A crash between the two leaves an
object no row points at (never a row pointing at a missing object); :meth:`Pkcs11Backend.orphans`
finds those. Destruction deletes the objects first, then the rows' references: an interrupted
destruction is run again by the scheduler (``run_due``) and a missing object is not an error then.

Outputs have the software keys' forms: ECDSA as DER (secp256k1 with a low s), Ed25519 raw, RSA-PSS
SHA-256 (salt 32), RSA-OAEP SHA-256, AES-256-GCM as nonce ‖ ciphertext ‖ tag. RSA-OAEP decryption
runs in the token, or as raw RSA in the token and the OAEP decoding natively where the token does
OAEP with SHA-1 only (:meth:`skms.hsm.Hsm.decrypt_oaep`). Verification and RSA encryption use the
stored public key (public operations, the same code as software keys).
"""

import asyncio
import contextlib
import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pkcs11 import Attribute, Mechanism, MechanismFlag

from skms._native import SecretBytes
from skms.crypto import registry
from skms.errors import (
    HsmInvalidInput,
    HsmKeyNotFound,
    IntegrityError,
    InvalidInput,
    UnsupportedOperation,
)
from skms.hsm import Hsm
from skms.hsm.kinds import ECDSA_HASHES, KeyKind, KeyRef, ecdsa_der, low_s
from skms.keys import envelope
from skms.keys.backends import HSM, SoftwareBackend, public_format, rsa_encrypt, verify_with
from skms.storage.base import KeyRecord, VersionRecord

#: The API's key types that can live in a token, and their kinds there.
HSM_TYPES: dict[str, KeyKind] = {
    "ecdsa-p256": KeyKind.ECDSA_P256,
    "ecdsa-p384": KeyKind.ECDSA_P384,
    "ecdsa-secp256k1": KeyKind.ECDSA_SECP256K1,
    "ed25519": KeyKind.ED25519,
    "rsa-3072": KeyKind.RSA_3072,
    "rsa-4096": KeyKind.RSA_4096,
    "aes256-gcm": KeyKind.AES_256,
}
LABEL_PREFIX = "skms:"
_GCM_NONCE = 12
_GCM_TAG = 16


@dataclass(frozen=True, slots=True)
class HsmKey:
    """A version of an HSM-resident key: where its object is, and its public key (None for AES)."""

    ref: KeyRef
    public: Any

    def public_key(self) -> Any:
        if self.public is None:
            raise UnsupportedOperation("an AES key has no public key")
        return self.public


def check_type(type: str) -> KeyKind:
    kind = HSM_TYPES.get(type)
    if kind is None:
        raise InvalidInput(
            f"a {type!r} key cannot live in the HSM; HSM key types: {', '.join(HSM_TYPES)}", field="type"
        )
    return kind


def _reference(ref: KeyRef) -> bytes:
    return json.dumps({"kind": ref.kind.value, "label": ref.label, "id": ref.id.hex()}).encode()


def _parse_reference(data: bytes) -> KeyRef:
    parsed = json.loads(data)
    return KeyRef(KeyKind(parsed["kind"]), parsed["label"], bytes.fromhex(parsed["id"]))


class Pkcs11Backend:
    """Keys generated in, and used inside, a PKCS#11 token."""

    name = HSM

    def __init__(self, hsm: Hsm, software: SoftwareBackend) -> None:
        self.hsm = hsm
        self.software = software  # the key's data key authenticates the stored references

    async def create(self, record: KeyRecord, number: int) -> tuple[bytes, bytes | None]:
        """Generates version ``number`` of ``record`` in the token: (stored reference, stored public key)."""
        kind = check_type(record.type)
        label = f"{LABEL_PREFIX}{record.id}:v{number}:{secrets.token_hex(4)}"
        key_id = os.urandom(16)
        public: bytes | None = None
        if kind is KeyKind.AES_256:
            ref = await self.hsm.generate_aes_key(
                label, key_id, capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT
            )
        else:
            pair = await self.hsm.generate_keypair(kind, label, key_id)
            ref = pair.ref
            alg = registry.get(record.type)
            assert alg.public_class is not None
            stored = alg.public_class.load(pair.public_key_der, "spki-der").export(public_format(alg))
            assert isinstance(stored, bytes)
            public = stored
        blob = envelope.encrypt_reference(
            self.software.data_key(record), record.tenant, record.id, number, record.type, record.purpose,
            _reference(ref),
        )  # fmt: skip
        return blob, public

    def reference(self, record: KeyRecord, version: VersionRecord) -> KeyRef:
        """Where version ``version`` of ``record`` is in the token (authenticated)."""
        if version.material is None:
            raise UnsupportedOperation(f"version {version.version} of {record.name!r} is destroyed")
        dek = self.software.data_key(record)
        try:
            data = envelope.decrypt_reference(
                dek, record.tenant, record.id, version.version, record.type, record.purpose, version.material
            )
        except IntegrityError as e:
            raise self.software.corrupted("HSM reference", record, version.version, e) from None
        return _parse_reference(data)

    async def forget(self, ref: KeyRef) -> None:
        """Deletes an object SKMS made (a failed creation's); a missing one is fine."""
        with contextlib.suppress(HsmKeyNotFound):
            await self.hsm.destroy(label=ref.label, key_id=ref.id)

    async def forget_blob(self, record: KeyRecord, number: int, blob: bytes) -> None:
        """:meth:`forget` of the object a :meth:`create` blob refers to."""
        version = VersionRecord(record.id, number, 0.0, "enabled", blob, None, None)
        await self.forget(self.reference(record, version))

    # -- KeyBackend ---------------------------------------------------------------------------

    def load(self, record: KeyRecord, version: VersionRecord) -> HsmKey:
        ref = self.reference(record, version)
        public = None
        if version.public_key is not None:
            alg = registry.get(record.type)
            assert alg.public_class is not None
            public = alg.public_class.load(version.public_key, public_format(alg))
        return HsmKey(ref, public)

    async def sign(self, key: HsmKey, type: str, message: bytes, prehashed: bool) -> bytes:
        kind = key.ref.kind
        if kind in ECDSA_HASHES:
            if prehashed:
                size = {"sha256": 32, "sha384": 48}[ECDSA_HASHES[kind]]
                if len(message) != size:
                    raise InvalidInput(f"a {type} digest is {size} bytes, got {len(message)}")
                raw = low_s(kind, await self.hsm.sign(key.ref, message, mechanism=Mechanism.ECDSA))
            else:
                raw = await self.hsm.sign(key.ref, message)  # hashed here, low s for secp256k1
            return ecdsa_der(raw)
        if prehashed:
            raise UnsupportedOperation(f"{type} keys sign messages, not digests")
        return await self.hsm.sign(key.ref, message)

    async def sign_batch(self, key: HsmKey, messages: list[bytes]) -> list[bytes]:
        # Concurrent: the pool spreads them over its sessions.
        return list(await asyncio.gather(*(self.sign(key, key.ref.kind.value, m, False) for m in messages)))

    async def verify(self, key: HsmKey, type: str, message: bytes, signature: bytes, prehashed: bool) -> bool:
        return await verify_with(key.public_key(), type, message, signature, prehashed)

    async def encrypt(self, key: HsmKey, plaintext: bytes | SecretBytes, associated_data: bytes) -> bytes:
        if key.ref.kind is KeyKind.AES_256:
            nonce, sealed = await self.hsm.encrypt(key.ref, plaintext, aad=associated_data)
            return nonce + sealed
        return rsa_encrypt(key.public_key(), plaintext, associated_data)

    async def decrypt(self, key: HsmKey, data: bytes, associated_data: bytes) -> bytes:
        if key.ref.kind is KeyKind.AES_256:
            if len(data) < _GCM_NONCE + _GCM_TAG:
                raise IntegrityError("the ciphertext is truncated")
            return await self.hsm.decrypt(key.ref, data[:_GCM_NONCE], data[_GCM_NONCE:], aad=associated_data)
        if associated_data:
            raise InvalidInput("RSA-OAEP decryption takes no associated data")
        try:
            # In the token: CKM_RSA_PKCS_OAEP with SHA-256, or raw RSA and the native constant-time
            # decoding where the token does OAEP with SHA-1 only (Hsm.decrypt_oaep).
            plain = await self.hsm.decrypt_oaep(key.ref, data)
        except (HsmInvalidInput, IntegrityError):
            # The token's CKR_ENCRYPTED_DATA_INVALID / _LEN_RANGE: as a software key says it.
            raise IntegrityError("RSA-OAEP decryption failed: wrong key or altered ciphertext") from None
        return plain.expose_secret()  # KeyBackend.decrypt answers bytes: the API's response body

    async def destroy(self, record: KeyRecord, versions: Sequence[VersionRecord]) -> None:
        for version in versions:
            if version.material is not None:
                await self.forget(self.reference(record, version))

    # -- maintenance --------------------------------------------------------------------------

    async def labels(self) -> set[str]:
        """The labels of every key object SKMS made in the token (both halves of a pair count once)."""

        def scan(session: Any) -> set[str]:
            found = set()
            for obj in session.get_objects({}):
                with contextlib.suppress(Exception):
                    label = obj[Attribute.LABEL]
                    if isinstance(label, str) and label.startswith(LABEL_PREFIX):
                        found.add(label)
            return found

        return await self.hsm.run(scan, idempotent=True, doing="listing SKMS's objects")


__all__ = ["HSM_TYPES", "HsmKey", "Pkcs11Backend", "check_type"]
