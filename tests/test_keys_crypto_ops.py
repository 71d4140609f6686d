"""Crypto operations through KeyService and the version rules, on SQLite and PostgreSQL.

New operations use the newest enabled version; decrypt and verify accept any enabled
version not below the minimum; expired versions neither encrypt nor sign; suspended and
compromised keys only process; pre-active, destroyed and pending-deletion keys do nothing.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from keys_support import FakeClock
from skms.crypto import secp256k1
from skms.errors import (
    IntegrityError,
    InvalidInput,
    InvalidState,
    NotFound,
    PolicyViolation,
    UnsupportedOperation,
)
from skms.keys import KeyService

pytestmark = pytest.mark.anyio

T = "acme"
AEAD = ["aes256-gcm", "chacha20-poly1305", "xchacha20-poly1305"]
MAC = ["hmac-sha256", "hmac-sha512", "blake3-keyed"]
KEM = ["ml-kem-768", "ml-kem-1024", "x25519+ml-kem-768"]
SIGN = [
    "ed25519",
    "ecdsa-secp256k1",
    "schnorr-secp256k1",
    "ecdsa-p256",
    "ecdsa-p384",
    "ml-dsa-44",
    "ml-dsa-65",
    "ml-dsa-87",
    "falcon-512",
    "ed25519+ml-dsa-65",
]
PREHASH = {"ecdsa-secp256k1": hashlib.sha256, "ecdsa-p256": hashlib.sha256, "ecdsa-p384": hashlib.sha384}


def _flip(text: str, index: int = -1) -> str:
    """The versioned text with one byte of its payload flipped."""
    head, _, body = text.rpartition(":")
    raw = bytearray(base64.b64decode(body))
    raw[index] ^= 0x01
    return f"{head}:{base64.b64encode(bytes(raw)).decode()}"


# --------------------------------------------------------------------------- encryption


@pytest.mark.parametrize("alg", AEAD)
async def test_aead_encrypt_decrypt_rewrap_datakey(svc: KeyService, alg: str) -> None:
    await svc.create_key(T, "k", alg)
    text, version = await svc.encrypt(T, "k", b"secret data", b"context")
    assert version == 1 and text.startswith("skms:v1:")
    assert await svc.decrypt(T, "k", text, b"context") == b"secret data"
    assert await svc.decrypt(T, "k", (await svc.encrypt(T, "k", b""))[0]) == b""
    with pytest.raises(IntegrityError):
        await svc.decrypt(T, "k", text, b"other context")
    with pytest.raises(IntegrityError):
        await svc.decrypt(T, "k", text)
    for index in (0, 15, -1):
        with pytest.raises(IntegrityError):
            await svc.decrypt(T, "k", _flip(text, index), b"context")
    await svc.rotate_key(T, "k")
    rewrapped, version = await svc.rewrap(T, "k", text, b"context")
    assert version == 2 and rewrapped.startswith("skms:v2:")
    assert await svc.decrypt(T, "k", rewrapped, b"context") == b"secret data"
    for size in (16, 24, 32, 64):
        plaintext, wrapped, version = await svc.datakey(T, "k", size, b"dk")
        assert len(plaintext) == size and version == 2
        assert await svc.decrypt(T, "k", wrapped, b"dk") == plaintext.expose_secret()
    with pytest.raises(InvalidInput):
        await svc.datakey(T, "k", 20)


async def test_malformed_ciphertext(svc: KeyService) -> None:
    await svc.create_key(T, "k", "aes256-gcm")
    bad: list[Any] = [
        "",
        "garbage",
        "skms:v0:AAAA",
        "skms:vx:AAAA",
        "skms:v1",
        "skms:v1:not base64!",
        b"skms:v1:AA",
        None,
    ]
    for text in bad:
        with pytest.raises(InvalidInput):
            await svc.decrypt(T, "k", text)
            pytest.fail(f"accepted {text!r}")


async def test_unknown_version(svc: KeyService) -> None:
    await svc.create_key(T, "k", "aes256-gcm")
    text, _ = await svc.encrypt(T, "k", b"x")
    with pytest.raises(NotFound):
        await svc.decrypt(T, "k", text.replace("skms:v1:", "skms:v7:"))


async def test_rsa_oaep(svc: KeyService) -> None:
    info = await svc.create_key(T, "rsa", "rsa-3072", purpose="encrypt")
    assert info.purpose == "encrypt"
    text, version = await svc.encrypt(T, "rsa", b"a data key")
    assert version == 1
    assert await svc.decrypt(T, "rsa", text) == b"a data key"
    # Anyone with the public key encrypts; only the service decrypts.
    public = await svc.public_key(T, "rsa")
    assert await svc.decrypt(T, "rsa", "skms:v1:" + base64.b64encode(public.encrypt(b"outside")).decode()) == (
        b"outside"
    )
    with pytest.raises(IntegrityError):
        await svc.decrypt(T, "rsa", _flip(text))
    with pytest.raises(InvalidInput):
        await svc.encrypt(T, "rsa", b"x", b"associated data")
    plaintext, wrapped, _ = await svc.datakey(T, "rsa")
    assert await svc.decrypt(T, "rsa", wrapped) == plaintext.expose_secret()
    await svc.rotate_key(T, "rsa")
    rewrapped, version = await svc.rewrap(T, "rsa", text)
    assert version == 2 and await svc.decrypt(T, "rsa", rewrapped) == b"a data key"


async def test_rsa_purpose_is_enforced(svc: KeyService) -> None:
    await svc.create_key(T, "signer", "rsa-3072")  # purpose "sign" (the default)
    assert (await svc.get_key(T, "signer")).purpose == "sign"
    with pytest.raises((UnsupportedOperation, PolicyViolation)):
        await svc.encrypt(T, "signer", b"x")


# --------------------------------------------------------------------------- signatures


@pytest.mark.parametrize("alg", [*SIGN, "rsa-3072"])
async def test_sign_verify(svc: KeyService, alg: str) -> None:
    await svc.create_key(T, "k", alg)
    message = b"pay 10 to bob"
    sig, version = await svc.sign(T, "k", message)
    assert version == 1 and sig.startswith("skms:v1:")
    assert await svc.verify(T, "k", message, sig) is True
    assert await svc.verify(T, "k", b"pay 99 to eve", sig) is False
    assert await svc.verify(T, "k", message, _flip(sig, 10)) is False
    # The signature verifies offline with the published public key.
    public = await svc.public_key(T, "k")
    assert public.verify(message, base64.b64decode(sig.split(":", 2)[2]))
    await svc.rotate_key(T, "k")
    sig2, version = await svc.sign(T, "k", message)
    assert version == 2
    assert await svc.verify(T, "k", message, sig) and await svc.verify(T, "k", message, sig2)
    # A signature checked against the other version's number fails.
    assert await svc.verify(T, "k", message, sig2.replace("skms:v2:", "skms:v1:")) is False


@pytest.mark.parametrize("alg", ["ecdsa-secp256k1", "ecdsa-p256", "ecdsa-p384"])
async def test_sign_prehashed(svc: KeyService, alg: str) -> None:
    await svc.create_key(T, "k", alg)
    message = b"a transaction"
    digest = PREHASH[alg](message).digest()
    sig, _ = await svc.sign(T, "k", digest, prehashed=True)
    # A signature of the digest is a signature of the message.
    assert await svc.verify(T, "k", message, sig) is True
    if alg == "ecdsa-secp256k1":
        assert await svc.verify(T, "k", digest, sig, prehashed=True) is True
        assert await svc.verify(T, "k", bytes(32), sig, prehashed=True) is False
        # Deterministic (RFC 6979): the same as the native core over the same digest.
        _, _, scalar = await svc.raw_material(T, "k", None)
        assert base64.b64decode(sig.split(":", 2)[2]) == secp256k1.sign_der(scalar, digest)


@pytest.mark.parametrize("alg", ["ecdsa-p256", "ecdsa-p384"])
async def test_verify_prehashed_nist(svc: KeyService, alg: str) -> None:
    await svc.create_key(T, "k", alg)
    digest = PREHASH[alg](b"a transaction").digest()
    sig, _ = await svc.sign(T, "k", digest, prehashed=True)
    assert await svc.verify(T, "k", digest, sig, prehashed=True) is True


async def test_prehashed_unsupported(svc: KeyService) -> None:
    await svc.create_key(T, "ed", "ed25519")
    with pytest.raises(UnsupportedOperation):
        await svc.sign(T, "ed", bytes(32), prehashed=True)
    sig, _ = await svc.sign(T, "ed", b"m")
    with pytest.raises(UnsupportedOperation):
        await svc.verify(T, "ed", b"m", sig, prehashed=True)


# --------------------------------------------------------------------------- MAC and KEM


@pytest.mark.parametrize("alg", MAC)
async def test_mac(svc: KeyService, alg: str) -> None:
    await svc.create_key(T, "k", alg)
    tag, version = await svc.mac(T, "k", b"data")
    assert version == 1
    assert await svc.verify_mac(T, "k", b"data", tag) is True
    assert await svc.verify_mac(T, "k", b"other", tag) is False
    assert await svc.verify_mac(T, "k", b"data", _flip(tag)) is False
    await svc.rotate_key(T, "k")
    tag2, version = await svc.mac(T, "k", b"data")
    assert version == 2 and tag2 != tag
    assert await svc.verify_mac(T, "k", b"data", tag) and await svc.verify_mac(T, "k", b"data", tag2)


@pytest.mark.parametrize("alg", KEM)
async def test_kem(svc: KeyService, alg: str) -> None:
    await svc.create_key(T, "k", alg)
    shared, ciphertext, version = await svc.encapsulate(T, "k")
    assert version == 1 and len(shared) == 32
    assert (await svc.decapsulate(T, "k", ciphertext)).expose_secret() == shared.expose_secret()
    # Anyone with the public key encapsulates to the key.
    outside, raw = (await svc.public_key(T, "k")).encapsulate()
    text = "skms:v1:" + base64.b64encode(raw).decode()
    assert (await svc.decapsulate(T, "k", text)).expose_secret() == outside.expose_secret()
    await svc.rotate_key(T, "k")
    shared2, ciphertext2, version = await svc.encapsulate(T, "k")
    assert version == 2
    assert (await svc.decapsulate(T, "k", ciphertext)).expose_secret() == shared.expose_secret()
    assert (await svc.decapsulate(T, "k", ciphertext2)).expose_secret() == shared2.expose_secret()


async def test_operation_must_fit_the_type(svc: KeyService) -> None:
    for name, alg in [("aes", "aes256-gcm"), ("ed", "ed25519"), ("mac", "hmac-sha256"), ("kem", "ml-kem-768")]:
        await svc.create_key(T, name, alg)
    await svc.create_key(T, "x", "x25519")
    await svc.create_wallet(T, "wallet", words=12)
    wrong: list[Callable[[], Awaitable[Any]]] = [
        lambda: svc.encrypt(T, "ed", b"x"),
        lambda: svc.encrypt(T, "mac", b"x"),
        lambda: svc.encrypt(T, "kem", b"x"),
        lambda: svc.datakey(T, "ed"),
        lambda: svc.sign(T, "aes", b"x"),
        lambda: svc.sign(T, "kem", b"x"),
        lambda: svc.mac(T, "aes", b"x"),
        lambda: svc.mac(T, "ed", b"x"),
        lambda: svc.encapsulate(T, "aes"),
        lambda: svc.encapsulate(T, "x"),
        lambda: svc.sign(T, "x", b"x"),
        lambda: svc.encrypt(T, "wallet", b"x"),
        lambda: svc.sign(T, "wallet", b"x"),
        lambda: svc.wallet_sign(T, "ed", path="m/0", scheme="solana", payload=b"x"),
        lambda: svc.wallet_addresses(T, "aes", chain="ethereum"),
    ]
    for op in wrong:
        with pytest.raises(UnsupportedOperation):
            await op()


# --------------------------------------------------------------------------- version rules


async def _one_of_each(svc: KeyService, **options: Any) -> dict[str, str]:
    """Creates an AEAD, a signing, a MAC and a KEM key; returns one output of each at version 1."""
    await svc.create_key(T, "enc", "aes256-gcm", **options)
    await svc.create_key(T, "sig", "ecdsa-secp256k1", **options)
    await svc.create_key(T, "mac", "hmac-sha256", **options)
    await svc.create_key(T, "kem", "ml-kem-768", **options)
    return {
        "enc": (await svc.encrypt(T, "enc", b"data"))[0],
        "sig": (await svc.sign(T, "sig", b"data"))[0],
        "mac": (await svc.mac(T, "mac", b"data"))[0],
        "kem": (await svc.encapsulate(T, "kem"))[1],
    }


def _protect(svc: KeyService) -> list[Callable[[], Awaitable[Any]]]:
    return [
        lambda: svc.encrypt(T, "enc", b"x"),
        lambda: svc.datakey(T, "enc"),
        lambda: svc.sign(T, "sig", b"x"),
        lambda: svc.sign(T, "sig", bytes(32), prehashed=True),
        lambda: svc.mac(T, "mac", b"x"),
        lambda: svc.encapsulate(T, "kem"),
    ]


def _process(svc: KeyService, out: dict[str, str]) -> list[Callable[[], Awaitable[Any]]]:
    return [
        lambda: svc.decrypt(T, "enc", out["enc"]),
        lambda: svc.verify(T, "sig", b"data", out["sig"]),
        lambda: svc.verify_mac(T, "mac", b"data", out["mac"]),
        lambda: svc.decapsulate(T, "kem", out["kem"]),
    ]


async def _all_succeed(ops: list[Callable[[], Awaitable[Any]]]) -> None:
    for op in ops:
        result = await op()
        assert result is not False


async def _all_raise(ops: list[Callable[[], Awaitable[Any]]], error: type[Exception]) -> None:
    for i, op in enumerate(ops):
        with pytest.raises(error):
            await op()
            pytest.fail(f"operation {i} succeeded")


async def _rotate_all(svc: KeyService) -> None:
    for name in ("enc", "sig", "mac", "kem"):
        await svc.rotate_key(T, name)


async def test_min_version(svc: KeyService) -> None:
    v1 = await _one_of_each(svc)
    await _rotate_all(svc)
    v2 = {
        "enc": (await svc.encrypt(T, "enc", b"data"))[0],
        "sig": (await svc.sign(T, "sig", b"data"))[0],
        "mac": (await svc.mac(T, "mac", b"data"))[0],
        "kem": (await svc.encapsulate(T, "kem"))[1],
    }
    await _rotate_all(svc)
    await _all_succeed(_process(svc, v1) + _process(svc, v2))
    for name in ("enc", "sig", "mac", "kem"):
        await svc.update_key(T, name, min_version=2)
    await _all_raise(_process(svc, v1), PolicyViolation)
    await _all_succeed(_process(svc, v2))
    for name in ("enc", "sig", "mac", "kem"):
        await svc.update_key(T, name, min_version=3)
    await _all_raise(_process(svc, v2), PolicyViolation)
    await _all_succeed(_protect(svc))  # version 3 protects


async def test_version_ttl(svc: KeyService, clock: FakeClock) -> None:
    out = await _one_of_each(svc, policy={"version_ttl": 3600})
    info = await svc.get_key(T, "enc")
    assert info.versions[0].expires_at == clock.now + 3600
    clock.advance(3599)
    await _all_succeed(_protect(svc))
    clock.advance(1)
    await _all_raise(_protect(svc), PolicyViolation)
    await _all_succeed(_process(svc, out))  # expired versions still decrypt and verify
    await _rotate_all(svc)
    await _all_succeed(_protect(svc))  # a fresh version protects again
    assert (await svc.encrypt(T, "enc", b"x"))[1] == 2
    await _all_succeed(_process(svc, out))


@pytest.mark.parametrize("state", ["suspended", "compromised"])
async def test_suspended_and_compromised_only_process(svc: KeyService, state: str) -> None:
    out = await _one_of_each(svc)
    for name in ("enc", "sig", "mac", "kem"):
        await svc.set_state(T, name, state)
    await _all_raise(_protect(svc), InvalidState)
    await _all_raise([lambda: svc.rewrap(T, "enc", out["enc"])], InvalidState)
    await _all_succeed(_process(svc, out))
    if state == "suspended":
        for name in ("enc", "sig", "mac", "kem"):
            await svc.set_state(T, name, "active")
        await _all_succeed(_protect(svc))


async def test_pre_active_does_nothing(svc: KeyService) -> None:
    for name, alg in [("enc", "aes256-gcm"), ("sig", "ecdsa-secp256k1"), ("mac", "hmac-sha256"), ("kem", "ml-kem-768")]:
        await svc.create_key(T, name, alg, state="pre-active")
    fake = {name: "skms:v1:" + base64.b64encode(bytes(64)).decode() for name in ("enc", "sig", "mac", "kem")}
    await _all_raise(_protect(svc) + _process(svc, fake), InvalidState)
    for name in ("enc", "sig", "mac", "kem"):
        await svc.set_state(T, name, "active")
    await _all_succeed(_protect(svc))


@pytest.mark.parametrize("window", [0, 3600])
async def test_destroyed_and_pending_deletion_do_nothing(svc: KeyService, window: int) -> None:
    out = await _one_of_each(svc)
    for name in ("enc", "sig", "mac", "kem"):
        await svc.schedule_deletion(T, name, window=window)
    await _all_raise(_protect(svc) + _process(svc, out), InvalidState)
