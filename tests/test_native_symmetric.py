"""The native AEADs and MACs on SecretBytes (``skms._native.symmetric``) against reference libraries.

SKMS's symmetric keys, the envelope (root key → data keys → material), the unseal relay, the
audit MACs and the API-key pepper all run on these functions so that no key is ever a Python
object (issue 13, defect 5). Their output must stay byte-compatible with what the previous
implementations (``cryptography``, libsodium, ``hmac``, ``blake3``) wrote into existing stores.
"""

from __future__ import annotations

import hashlib
import hmac
import os

import blake3
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from nacl import bindings as nacl

from skms import errors
from skms._native import SecretBytes
from skms.crypto import registry, symmetric
from skms.crypto.memory import exposed, take

KEY = SecretBytes(bytes(range(32)))
RAW = bytes(range(32))


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 4095, 4096, 70_000])
def test_aes_gcm_and_chacha_match_cryptography(size: int) -> None:
    plaintext, aad = os.urandom(size), os.urandom(size % 37)
    for name, reference in (("aes256-gcm", AESGCM(RAW)), ("chacha20-poly1305", ChaCha20Poly1305(RAW))):
        blob = symmetric.aead_encrypt(name, KEY, plaintext, aad)
        assert len(blob) == 12 + size + 16
        assert reference.decrypt(blob[:12], blob[12:], aad) == plaintext
        nonce = os.urandom(12)
        theirs = nonce + reference.encrypt(nonce, plaintext, aad)
        assert symmetric.aead_decrypt(name, KEY, theirs, aad) == plaintext
        assert symmetric.aead_decrypt_secret(name, KEY, theirs, aad) == plaintext


def test_xchacha_matches_libsodium() -> None:
    plaintext, aad = os.urandom(100), b"ad"
    blob = symmetric.aead_encrypt("xchacha20-poly1305", KEY, plaintext, aad)
    assert nacl.crypto_aead_xchacha20poly1305_ietf_decrypt(blob[24:], aad, blob[:24], RAW) == plaintext
    nonce = os.urandom(24)
    theirs = nonce + nacl.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, nonce, RAW)
    assert symmetric.aead_decrypt("xchacha20-poly1305", KEY, theirs, aad) == plaintext


@pytest.mark.parametrize("name", ["aes256-gcm", "chacha20-poly1305", "xchacha20-poly1305"])
def test_aead_refusals(name: str) -> None:
    blob = symmetric.aead_encrypt(name, KEY, b"secret", b"ad")
    for bad in (blob[:-1] + bytes([blob[-1] ^ 1]), blob, blob[:5]):
        aad = b"other" if bad is blob else b"ad"
        with pytest.raises(errors.IntegrityError):
            symmetric.aead_decrypt(name, KEY, bad, aad)
        with pytest.raises(errors.IntegrityError):
            symmetric.aead_decrypt_secret(name, KEY, bad, aad)
    with pytest.raises(errors.InvalidKey):
        symmetric.aead_encrypt(name, SecretBytes(b"short"), b"x", b"")
    with pytest.raises(errors.InvalidType):
        symmetric.aead_encrypt(name, KEY, "text", b"")  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidInput):
        symmetric.aead_encrypt("rot13", KEY, b"x", b"")


def test_macs_match_references() -> None:
    data = os.urandom(300)
    assert symmetric.mac("hmac-sha256", KEY, data) == hmac.digest(RAW, data, "sha256")
    assert symmetric.mac("hmac-sha512", KEY, data) == hmac.digest(RAW, data, "sha512")
    assert symmetric.mac("blake3-keyed", KEY, data) == blake3.blake3(data, key=RAW).digest()
    long_key = SecretBytes(os.urandom(200))  # HMAC keys longer than a block are hashed first
    assert symmetric.mac("hmac-sha256", long_key, data) == hmac.digest(long_key.expose_secret(), data, "sha256")
    tag = symmetric.mac("hmac-sha256", KEY, data)
    assert symmetric.mac_verify("hmac-sha256", KEY, data, tag)
    assert not symmetric.mac_verify("hmac-sha256", KEY, data, tag[:-1] + bytes([tag[-1] ^ 1]))
    assert not symmetric.mac_verify("hmac-sha256", KEY, data, tag[:16])
    assert symmetric.mac_secret("hmac-sha256", KEY, data) == tag
    with pytest.raises(errors.InvalidKey):
        symmetric.mac("blake3-keyed", SecretBytes(b"16 bytes only!!!"), data)


@pytest.mark.parametrize("algorithm", ["aes256-gcm", "chacha20-poly1305", "xchacha20-poly1305"])
def test_key_objects_hold_only_a_secret_buffer(algorithm: str) -> None:
    key = registry.generate_key(algorithm)
    assert all(not isinstance(v, bytes | bytearray) for v in vars(key).values()), vars(key).keys()
    assert key.export_secret() is key._material  # type: ignore[attr-defined]
    assert key.decrypt(key.encrypt(SecretBytes(b"data key"))) == b"data key"  # type: ignore[attr-defined]


def test_exposed_and_take_wipe_their_buffers() -> None:
    with exposed(KEY) as buffer:
        assert bytes(buffer) == RAW
    assert buffer == bytearray(32)
    data = hashlib.sha256(b"a library's secret").digest()
    secret = take(data)
    assert data == bytes(32)
    assert secret == hashlib.sha256(b"a library's secret").digest()


@pytest.mark.parametrize("size", [16, 24, 32])
def test_key_wrap_matches_cryptography(size: int) -> None:
    from cryptography.hazmat.primitives import keywrap as reference

    from skms.crypto import keywrap

    kek = os.urandom(size)
    for length in (1, 7, 16, 24, 40, 1345):
        key = os.urandom(length)
        wrapped = keywrap.wrap_key(SecretBytes(kek), SecretBytes(key), padding=True)
        assert wrapped == reference.aes_key_wrap_with_padding(kek, key)
        assert keywrap.unwrap_key(SecretBytes(kek), wrapped, padding=True) == key
        if length >= 16 and length % 8 == 0:
            plain = reference.aes_key_wrap(kek, key)
            assert keywrap.wrap_key(kek, key) == plain
            assert keywrap.unwrap_key(kek, plain) == key
    with pytest.raises(errors.IntegrityError):
        keywrap.unwrap_key(kek, bytes(len(wrapped)), padding=True)
