"""Envelope encryption: the root key (KEK) wraps each key's data key (DEK); the DEK
encrypts each version's material with associated data that binds tenant, key id,
version, type and purpose. A row copied to another key or version, or any flipped
byte, fails with :class:`skms.errors.IntegrityError`.
"""

import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from skms._native import SecretBytes
from skms.errors import IntegrityError

NONCE = 12


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, blob: bytes, aad: bytes, what: str) -> bytes:
    if len(blob) < NONCE + 16:
        raise IntegrityError(f"{what} is truncated")
    try:
        return AESGCM(key).decrypt(blob[:NONCE], blob[NONCE:], aad)
    except InvalidTag:
        raise IntegrityError(
            f"{what} failed authentication: altered, moved to another key, or wrong root key"
        ) from None


def _dek_aad(tenant: str, key_id: str, root_id: int) -> bytes:
    return json.dumps(["skms-dek", tenant, key_id, root_id]).encode()


def _material_aad(tenant: str, key_id: str, version: int, type: str, purpose: str) -> bytes:
    return json.dumps(["skms-material", tenant, key_id, version, type, purpose]).encode()


def new_dek() -> SecretBytes:
    return SecretBytes.random(32)


def wrap_dek(root: SecretBytes, root_id: int, tenant: str, key_id: str, dek: SecretBytes) -> bytes:
    return _seal(root.expose_secret(), dek.expose_secret(), _dek_aad(tenant, key_id, root_id))


def unwrap_dek(root: SecretBytes, root_id: int, tenant: str, key_id: str, wrapped: bytes) -> SecretBytes:
    return SecretBytes(_open(root.expose_secret(), wrapped, _dek_aad(tenant, key_id, root_id), "data key"))


def encrypt_material(
    dek: SecretBytes, tenant: str, key_id: str, version: int, type: str, purpose: str, material: bytes
) -> bytes:
    return _seal(dek.expose_secret(), material, _material_aad(tenant, key_id, version, type, purpose))


def decrypt_material(
    dek: SecretBytes, tenant: str, key_id: str, version: int, type: str, purpose: str, blob: bytes
) -> SecretBytes:
    aad = _material_aad(tenant, key_id, version, type, purpose)
    return SecretBytes(_open(dek.expose_secret(), blob, aad, f"key material of version {version}"))


def wrap_root(unseal_key: SecretBytes, root_id: int, root: SecretBytes) -> bytes:
    return _seal(unseal_key.expose_secret(), root.expose_secret(), json.dumps(["skms-root", root_id]).encode())


def unwrap_root(unseal_key: SecretBytes, root_id: int, wrapped: bytes) -> SecretBytes:
    return SecretBytes(
        _open(unseal_key.expose_secret(), wrapped, json.dumps(["skms-root", root_id]).encode(), "root key")
    )
