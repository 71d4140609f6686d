"""Cryptographic engine benchmarks (issue 4): each primitive through ``skms.crypto``'s
key objects against the library it wraps, called directly, in the same run.

Conventions are those of ``benches/bench_native.py`` (``benches/ratios.py`` reads
them). Messages are 1 KiB. The target for every wrapped primitive is the issue's
"wrapper overhead at most 10% per operation": skms's rate at least 1/1.1 of the
direct call's. Falcon and ML-DSA sign/verify rates are reported without a peer.

Run with ``make bench`` (or ``pytest benches/bench_crypto.py --benchmark-only``);
timings are never asserted.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, mldsa, mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from nacl import bindings as nacl

from skms.crypto import ed25519, generate_key, load_private_key
from skms.crypto.keys import AeadKey, AgreementPrivateKey, KemPrivateKey, MacKey, SigningKey

MESSAGE = bytes(range(256)) * 4  # 1 KiB
AD = b"tenant=1;key=orders;version=3"
KEY32 = hashlib.sha256(b"bench crypto key").digest()
SEED64 = hashlib.sha512(b"bench crypto seed").digest()

OVERHEAD = "wrapper overhead at most 10% per operation (1 KiB messages)"
WITHIN_10_PERCENT = 1 / 1.1


def _target(benchmark: Any, peer: str) -> None:
    benchmark.extra_info.update(target_ratio=WITHIN_10_PERCENT, target_peer=peer, target=OVERHEAD)


def _single(benchmark: Any, fn: Callable[[], Any]) -> Any:
    benchmark.extra_info["items"] = 1
    return benchmark(fn)


def _aead(algorithm: str) -> AeadKey:
    key = load_private_key(algorithm, KEY32)
    assert isinstance(key, AeadKey)
    key.max_messages = None  # type: ignore[attr-defined]  # a benchmark encrypts far past any key's life
    return key


# --- AES-256-GCM ----------------------------------------------------------------------------


@pytest.mark.benchmark(group="aes256gcm_encrypt")
def test_aes256gcm_encrypt__skms(benchmark: Any) -> None:
    _target(benchmark, "cryptography")
    key = _aead("aes256-gcm")
    assert key.decrypt(_single(benchmark, lambda: key.encrypt(MESSAGE, AD)), AD) == MESSAGE


@pytest.mark.benchmark(group="aes256gcm_encrypt")
def test_aes256gcm_encrypt__cryptography(benchmark: Any) -> None:
    aead = AESGCM(KEY32)

    def encrypt() -> bytes:
        nonce = os.urandom(12)
        return nonce + aead.encrypt(nonce, MESSAGE, AD)

    assert _aead("aes256-gcm").decrypt(_single(benchmark, encrypt), AD) == MESSAGE


@pytest.mark.benchmark(group="aes256gcm_decrypt")
def test_aes256gcm_decrypt__skms(benchmark: Any) -> None:
    _target(benchmark, "cryptography")
    key = _aead("aes256-gcm")
    ciphertext = key.encrypt(MESSAGE, AD)
    assert _single(benchmark, lambda: key.decrypt(ciphertext, AD)) == MESSAGE


@pytest.mark.benchmark(group="aes256gcm_decrypt")
def test_aes256gcm_decrypt__cryptography(benchmark: Any) -> None:
    aead = AESGCM(KEY32)
    ciphertext = _aead("aes256-gcm").encrypt(MESSAGE, AD)
    assert _single(benchmark, lambda: aead.decrypt(ciphertext[:12], ciphertext[12:], AD)) == MESSAGE


# --- ChaCha20-Poly1305 ------------------------------------------------------------------------


@pytest.mark.benchmark(group="chacha20poly1305_encrypt")
def test_chacha20poly1305_encrypt__skms(benchmark: Any) -> None:
    _target(benchmark, "cryptography")
    key = _aead("chacha20-poly1305")
    assert key.decrypt(_single(benchmark, lambda: key.encrypt(MESSAGE, AD)), AD) == MESSAGE


@pytest.mark.benchmark(group="chacha20poly1305_encrypt")
def test_chacha20poly1305_encrypt__cryptography(benchmark: Any) -> None:
    aead = ChaCha20Poly1305(KEY32)

    def encrypt() -> bytes:
        nonce = os.urandom(12)
        return nonce + aead.encrypt(nonce, MESSAGE, AD)

    assert _aead("chacha20-poly1305").decrypt(_single(benchmark, encrypt), AD) == MESSAGE


@pytest.mark.benchmark(group="chacha20poly1305_decrypt")
def test_chacha20poly1305_decrypt__skms(benchmark: Any) -> None:
    _target(benchmark, "cryptography")
    key = _aead("chacha20-poly1305")
    ciphertext = key.encrypt(MESSAGE, AD)
    assert _single(benchmark, lambda: key.decrypt(ciphertext, AD)) == MESSAGE


@pytest.mark.benchmark(group="chacha20poly1305_decrypt")
def test_chacha20poly1305_decrypt__cryptography(benchmark: Any) -> None:
    aead = ChaCha20Poly1305(KEY32)
    ciphertext = _aead("chacha20-poly1305").encrypt(MESSAGE, AD)
    assert _single(benchmark, lambda: aead.decrypt(ciphertext[:12], ciphertext[12:], AD)) == MESSAGE


# --- XChaCha20-Poly1305 -------------------------------------------------------------------------


@pytest.mark.benchmark(group="xchacha20poly1305_encrypt")
def test_xchacha20poly1305_encrypt__skms(benchmark: Any) -> None:
    _target(benchmark, "pynacl")
    key = _aead("xchacha20-poly1305")
    assert key.decrypt(_single(benchmark, lambda: key.encrypt(MESSAGE, AD)), AD) == MESSAGE


@pytest.mark.benchmark(group="xchacha20poly1305_encrypt")
def test_xchacha20poly1305_encrypt__pynacl(benchmark: Any) -> None:
    def encrypt() -> bytes:
        nonce = os.urandom(24)
        return nonce + nacl.crypto_aead_xchacha20poly1305_ietf_encrypt(MESSAGE, AD, nonce, KEY32)

    assert _aead("xchacha20-poly1305").decrypt(_single(benchmark, encrypt), AD) == MESSAGE


@pytest.mark.benchmark(group="xchacha20poly1305_decrypt")
def test_xchacha20poly1305_decrypt__skms(benchmark: Any) -> None:
    _target(benchmark, "pynacl")
    key = _aead("xchacha20-poly1305")
    ciphertext = key.encrypt(MESSAGE, AD)
    assert _single(benchmark, lambda: key.decrypt(ciphertext, AD)) == MESSAGE


@pytest.mark.benchmark(group="xchacha20poly1305_decrypt")
def test_xchacha20poly1305_decrypt__pynacl(benchmark: Any) -> None:
    ciphertext = _aead("xchacha20-poly1305").encrypt(MESSAGE, AD)
    decrypt = nacl.crypto_aead_xchacha20poly1305_ietf_decrypt
    assert _single(benchmark, lambda: decrypt(ciphertext[24:], AD, ciphertext[:24], KEY32)) == MESSAGE


# --- HMAC-SHA256 ----------------------------------------------------------------------------------


def _hmac_key() -> MacKey:
    key = load_private_key("hmac-sha256", KEY32)
    assert isinstance(key, MacKey)
    return key


@pytest.mark.benchmark(group="hmac_sha256")
def test_hmac_sha256__skms(benchmark: Any) -> None:
    _target(benchmark, "hmac")
    key = _hmac_key()
    assert _single(benchmark, lambda: key.mac(MESSAGE)) == hmac.digest(KEY32, MESSAGE, "sha256")


@pytest.mark.benchmark(group="hmac_sha256")
def test_hmac_sha256__hmac(benchmark: Any) -> None:
    assert _single(benchmark, lambda: hmac.digest(KEY32, MESSAGE, "sha256")) == _hmac_key().mac(MESSAGE)


@pytest.mark.benchmark(group="hmac_sha256_verify")
def test_hmac_sha256_verify__skms(benchmark: Any) -> None:
    _target(benchmark, "hmac")
    key = _hmac_key()
    tag = key.mac(MESSAGE)
    assert _single(benchmark, lambda: key.verify(MESSAGE, tag)) is True


@pytest.mark.benchmark(group="hmac_sha256_verify")
def test_hmac_sha256_verify__hmac(benchmark: Any) -> None:
    tag = _hmac_key().mac(MESSAGE)
    assert _single(benchmark, lambda: hmac.compare_digest(hmac.digest(KEY32, MESSAGE, "sha256"), tag)) is True


# --- Ed25519 (registry key object vs the native module it calls) ---------------------------------


def _signing(algorithm: str, material: bytes) -> SigningKey:
    key = load_private_key(algorithm, material)
    assert isinstance(key, SigningKey)
    return key


@pytest.mark.benchmark(group="ed25519_sign_1k")
def test_ed25519_sign_1k__skms(benchmark: Any) -> None:
    _target(benchmark, "native")
    key = _signing("ed25519", KEY32)
    assert _single(benchmark, lambda: key.sign(MESSAGE)) == ed25519.sign(KEY32, MESSAGE)


@pytest.mark.benchmark(group="ed25519_sign_1k")
def test_ed25519_sign_1k__native(benchmark: Any) -> None:
    assert len(_single(benchmark, lambda: ed25519.sign(KEY32, MESSAGE))) == 64


@pytest.mark.benchmark(group="ed25519_verify_1k")
def test_ed25519_verify_1k__skms(benchmark: Any) -> None:
    _target(benchmark, "native")
    public = _signing("ed25519", KEY32).public_key()
    signature = ed25519.sign(KEY32, MESSAGE)
    assert _single(benchmark, lambda: public.verify(MESSAGE, signature)) is True


@pytest.mark.benchmark(group="ed25519_verify_1k")
def test_ed25519_verify_1k__native(benchmark: Any) -> None:
    public, signature = ed25519.public_key(KEY32), ed25519.sign(KEY32, MESSAGE)
    assert _single(benchmark, lambda: ed25519.verify(public, MESSAGE, signature)) is True


# --- ECDSA P-256 ------------------------------------------------------------------------------------

_ECDSA = ec.ECDSA(hashes.SHA256())


@pytest.mark.benchmark(group="ecdsa_p256_sign")
def test_ecdsa_p256_sign__skms(benchmark: Any) -> None:
    _target(benchmark, "cryptography")
    key = _signing("ecdsa-p256", KEY32)
    assert key.public_key().verify(MESSAGE, _single(benchmark, lambda: key.sign(MESSAGE)))


@pytest.mark.benchmark(group="ecdsa_p256_sign")
def test_ecdsa_p256_sign__cryptography(benchmark: Any) -> None:
    key = ec.derive_private_key(int.from_bytes(KEY32, "big"), ec.SECP256R1())
    signature = _single(benchmark, lambda: key.sign(MESSAGE, _ECDSA))
    assert _signing("ecdsa-p256", KEY32).public_key().verify(MESSAGE, signature)


@pytest.mark.benchmark(group="ecdsa_p256_verify")
def test_ecdsa_p256_verify__skms(benchmark: Any) -> None:
    _target(benchmark, "cryptography")
    key = _signing("ecdsa-p256", KEY32)
    public, signature = key.public_key(), key.sign(MESSAGE)
    assert _single(benchmark, lambda: public.verify(MESSAGE, signature)) is True


@pytest.mark.benchmark(group="ecdsa_p256_verify")
def test_ecdsa_p256_verify__cryptography(benchmark: Any) -> None:
    key = ec.derive_private_key(int.from_bytes(KEY32, "big"), ec.SECP256R1())
    public, signature = key.public_key(), key.sign(MESSAGE, _ECDSA)
    _single(benchmark, lambda: public.verify(signature, MESSAGE, _ECDSA))  # raises if invalid


# --- ML-DSA-65 (with peer), ML-DSA-44/87 and Falcon (rates only) --------------------------------


@pytest.mark.benchmark(group="mldsa65_sign")
def test_mldsa65_sign__skms(benchmark: Any) -> None:
    _target(benchmark, "cryptography")
    key = _signing("ml-dsa-65", KEY32)
    assert key.public_key().verify(MESSAGE, _single(benchmark, lambda: key.sign(MESSAGE)))


@pytest.mark.benchmark(group="mldsa65_sign")
def test_mldsa65_sign__cryptography(benchmark: Any) -> None:
    key = mldsa.MLDSA65PrivateKey.from_seed_bytes(KEY32)
    signature = _single(benchmark, lambda: key.sign(MESSAGE))
    assert _signing("ml-dsa-65", KEY32).public_key().verify(MESSAGE, signature)


@pytest.mark.benchmark(group="mldsa65_verify")
def test_mldsa65_verify__skms(benchmark: Any) -> None:
    _target(benchmark, "cryptography")
    key = _signing("ml-dsa-65", KEY32)
    public, signature = key.public_key(), key.sign(MESSAGE)
    assert _single(benchmark, lambda: public.verify(MESSAGE, signature)) is True


@pytest.mark.benchmark(group="mldsa65_verify")
def test_mldsa65_verify__cryptography(benchmark: Any) -> None:
    key = mldsa.MLDSA65PrivateKey.from_seed_bytes(KEY32)
    public, signature = key.public_key(), key.sign(MESSAGE)
    _single(benchmark, lambda: public.verify(signature, MESSAGE))  # raises if invalid


def _rate_only_key(algorithm: str) -> SigningKey:
    # Falcon keys are not seed-based: a fresh key per run.
    key = load_private_key(algorithm, KEY32) if algorithm.startswith("ml-dsa") else generate_key(algorithm)
    assert isinstance(key, SigningKey)
    return key


RATE_ONLY = ["ml-dsa-44", "ml-dsa-87", "falcon-512", "falcon-1024"]


@pytest.mark.parametrize("algorithm", RATE_ONLY)
@pytest.mark.benchmark(group="pq_sign_rate")
def test_pq_sign_rate__skms(benchmark: Any, algorithm: str) -> None:
    key = _rate_only_key(algorithm)
    assert key.public_key().verify(MESSAGE, _single(benchmark, lambda: key.sign(MESSAGE)))


@pytest.mark.parametrize("algorithm", RATE_ONLY)
@pytest.mark.benchmark(group="pq_verify_rate")
def test_pq_verify_rate__skms(benchmark: Any, algorithm: str) -> None:
    key = _rate_only_key(algorithm)
    public, signature = key.public_key(), key.sign(MESSAGE)
    assert _single(benchmark, lambda: public.verify(MESSAGE, signature)) is True


# --- ML-KEM-768 ---------------------------------------------------------------------------------------


def _kem() -> KemPrivateKey:
    key = load_private_key("ml-kem-768", SEED64)
    assert isinstance(key, KemPrivateKey)
    return key


@pytest.mark.benchmark(group="mlkem768_encaps")
def test_mlkem768_encaps__skms(benchmark: Any) -> None:
    _target(benchmark, "cryptography")
    key = _kem()
    public = key.public_key()
    shared, ciphertext = _single(benchmark, public.encapsulate)
    assert key.decapsulate(ciphertext) == shared


@pytest.mark.benchmark(group="mlkem768_encaps")
def test_mlkem768_encaps__cryptography(benchmark: Any) -> None:
    public = mlkem.MLKEM768PrivateKey.from_seed_bytes(SEED64).public_key()
    shared, ciphertext = _single(benchmark, public.encapsulate)
    assert _kem().decapsulate(ciphertext).expose_secret() == shared


@pytest.mark.benchmark(group="mlkem768_decaps")
def test_mlkem768_decaps__skms(benchmark: Any) -> None:
    _target(benchmark, "cryptography")
    key = _kem()
    shared, ciphertext = key.public_key().encapsulate()
    assert _single(benchmark, lambda: key.decapsulate(ciphertext)) == shared


@pytest.mark.benchmark(group="mlkem768_decaps")
def test_mlkem768_decaps__cryptography(benchmark: Any) -> None:
    key = mlkem.MLKEM768PrivateKey.from_seed_bytes(SEED64)
    shared, ciphertext = key.public_key().encapsulate()
    assert _single(benchmark, lambda: key.decapsulate(ciphertext)) == shared


# --- X25519 ---------------------------------------------------------------------------------------------


@pytest.mark.benchmark(group="x25519_exchange")
def test_x25519_exchange__skms(benchmark: Any) -> None:
    _target(benchmark, "cryptography")
    key = load_private_key("x25519", KEY32)
    peer = load_private_key("x25519", SEED64[:32])
    assert isinstance(key, AgreementPrivateKey) and isinstance(peer, AgreementPrivateKey)
    peer_public = peer.public_key()
    assert _single(benchmark, lambda: key.exchange(peer_public)) == peer.exchange(key.public_key())


@pytest.mark.benchmark(group="x25519_exchange")
def test_x25519_exchange__cryptography(benchmark: Any) -> None:
    key = x25519.X25519PrivateKey.from_private_bytes(KEY32)
    peer_public = x25519.X25519PrivateKey.from_private_bytes(SEED64[:32]).public_key()
    assert len(_single(benchmark, lambda: key.exchange(peer_public))) == 32
