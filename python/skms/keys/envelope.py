"""Envelope encryption: the root key (KEK) wraps each key's data key (DEK); the DEK
encrypts each version's material with associated data that binds tenant, key id,
version, type and purpose. A row copied to another key or version, or any flipped
byte, fails with :class:`skms.errors.IntegrityError`.
"""

import json

from skms._native import SecretBytes
from skms.crypto import symmetric as native
from skms.crypto.random import random_secret, random_secret_async
from skms.errors import IntegrityError

NONCE = 12
#: nonce ‖ ciphertext ‖ tag under AES-256-GCM, run natively on the SecretBytes of the key: neither
#: a wrapping key nor an unwrapped one is ever a Python object (whose freed memory is not wiped).
_AEAD = "aes256-gcm"


def _seal(key: SecretBytes, plaintext: bytes | SecretBytes, aad: bytes) -> bytes:
    return native.aead_encrypt(_AEAD, key, plaintext, aad)


def _open(key: SecretBytes, blob: bytes, aad: bytes, what: str) -> SecretBytes:
    if len(blob) < NONCE + 16:
        raise IntegrityError(f"{what} is truncated")
    try:
        return native.aead_decrypt_secret(_AEAD, key, blob, aad)
    except IntegrityError:
        raise IntegrityError(
            f"{what} failed authentication: altered, moved to another key, or wrong root key"
        ) from None


def _dek_aad(tenant: str, key_id: str, root_id: int) -> bytes:
    return json.dumps(["skms-dek", tenant, key_id, root_id]).encode()


def _material_aad(tenant: str, key_id: str, version: int, type: str, purpose: str) -> bytes:
    return json.dumps(["skms-material", tenant, key_id, version, type, purpose]).encode()


def new_dek() -> SecretBytes:
    """A new data key (blocks while an HSM random source answers: coroutines use :func:`fresh_dek`)."""
    return random_secret(32)


async def fresh_dek() -> SecretBytes:
    """A new data key, drawn without blocking the event loop (as fast as :func:`new_dek` from the OS)."""
    return await random_secret_async(32)


def wrap_dek(root: SecretBytes, root_id: int, tenant: str, key_id: str, dek: SecretBytes) -> bytes:
    return _seal(root, dek, _dek_aad(tenant, key_id, root_id))


def unwrap_dek(root: SecretBytes, root_id: int, tenant: str, key_id: str, wrapped: bytes) -> SecretBytes:
    return _open(root, wrapped, _dek_aad(tenant, key_id, root_id), "data key")


def encrypt_material(
    dek: SecretBytes, tenant: str, key_id: str, version: int, type: str, purpose: str, material: bytes | SecretBytes
) -> bytes:
    return _seal(dek, material, _material_aad(tenant, key_id, version, type, purpose))


def decrypt_material(
    dek: SecretBytes, tenant: str, key_id: str, version: int, type: str, purpose: str, blob: bytes
) -> SecretBytes:
    aad = _material_aad(tenant, key_id, version, type, purpose)
    return _open(dek, blob, aad, f"key material of version {version}")


def _reference_aad(tenant: str, key_id: str, version: int, type: str, purpose: str) -> bytes:
    # Its own label: a reference moved into a software row (or material into an HSM row) fails.
    return json.dumps(["skms-hsm-reference", tenant, key_id, version, type, purpose]).encode()


def encrypt_reference(
    dek: SecretBytes, tenant: str, key_id: str, version: int, type: str, purpose: str, reference: bytes
) -> bytes:
    """The stored form of an HSM-resident version: where its token object is (not secret, but bound to the row)."""
    return _seal(dek, reference, _reference_aad(tenant, key_id, version, type, purpose))


def decrypt_reference(
    dek: SecretBytes, tenant: str, key_id: str, version: int, type: str, purpose: str, blob: bytes
) -> bytes:
    aad = _reference_aad(tenant, key_id, version, type, purpose)
    return _open(dek, blob, aad, f"HSM reference of version {version}").expose_secret()


def wrap_root(unseal_key: SecretBytes, root_id: int, root: SecretBytes) -> bytes:
    return _seal(unseal_key, root, json.dumps(["skms-root", root_id]).encode())


def unwrap_root(unseal_key: SecretBytes, root_id: int, wrapped: bytes) -> SecretBytes:
    return _open(unseal_key, wrapped, json.dumps(["skms-root", root_id]).encode(), "root key")
