"""Native core benchmarks (issue 2): skms against coincurve, PyNaCl and cryptography.

Conventions shared by every ``benches/bench_*.py`` (``benches/ratios.py`` reads them):

* a test is named ``test_<group>__<implementation>`` and marked
  ``@pytest.mark.benchmark(group="<group>")``; the skms entry is ``__skms``;
* ``benchmark.extra_info["items"]`` is the number of items one call handles,
  so batch calls and peer loops compare per item;
* the skms entry may carry a target: ``extra_info["target_ratio"]`` (skms
  items/s over the peer's must reach it), ``extra_info["target_peer"]`` and
  ``extra_info["target"]`` (the words of the issue).

Run with ``make bench``; timings are never asserted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import coincurve
import nacl.signing
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from skms.crypto import ed25519, secp256k1

BATCH = 10_000
BATCH_ROUNDS = 5

SECP_KEY = hashlib.sha256(b"bench secp256k1 key").digest()
ED_KEY = hashlib.sha256(b"bench ed25519 key").digest()
DIGEST = hashlib.sha256(b"bench digest").digest()
MESSAGE = b"a 64-byte message, about the size of a token or a transaction.."
DIGESTS = [hashlib.sha256(b"digest %d" % i).digest() for i in range(BATCH)]
MESSAGES = [b"message %d " % i + MESSAGE for i in range(BATCH)]

SINGLE_OVERHEAD = "single-call overhead at most 1.2x coincurve"
BATCH_SIGNING = "batch signing at least 1.7x the single-core peer rate"
BATCH_VERIFY = "Ed25519 batch verification at least 2x the peer loop"


def _target(benchmark: Any, ratio: float, peer: str, words: str) -> None:
    benchmark.extra_info.update(target_ratio=ratio, target_peer=peer, target=words)


def _batch(benchmark: Any, fn: Callable[[], Any]) -> Any:
    """One call handles BATCH items: a few timed rounds after a warm-up."""
    benchmark.extra_info["items"] = BATCH
    return benchmark.pedantic(fn, rounds=BATCH_ROUNDS, iterations=1, warmup_rounds=1)


def _single(benchmark: Any, fn: Callable[[], Any]) -> Any:
    benchmark.extra_info["items"] = 1
    return benchmark(fn)


# --- secp256k1: one signature ------------------------------------------------


@pytest.mark.benchmark(group="secp256k1_sign")
def test_secp256k1_sign__skms(benchmark: Any) -> None:
    # Time at most 1.2x coincurve's means a rate at least 1/1.2 of it.
    _target(benchmark, 1 / 1.2, "coincurve", SINGLE_OVERHEAD)
    signature = _single(benchmark, lambda: secp256k1.sign(SECP_KEY, DIGEST))
    assert len(signature) == 64


@pytest.mark.benchmark(group="secp256k1_sign")
def test_secp256k1_sign__coincurve(benchmark: Any) -> None:
    key = coincurve.PrivateKey(SECP_KEY)
    signature = _single(benchmark, lambda: key.sign(DIGEST, hasher=None))
    assert secp256k1.verify(secp256k1.public_key(SECP_KEY), DIGEST, signature)


# --- secp256k1: 10,000 signatures --------------------------------------------


@pytest.mark.benchmark(group="secp256k1_sign_batch")
def test_secp256k1_sign_batch__skms(benchmark: Any) -> None:
    _target(benchmark, 1.7, "coincurve", BATCH_SIGNING)
    signatures = _batch(benchmark, lambda: secp256k1.sign_batch(SECP_KEY, DIGESTS))
    assert len(signatures) == BATCH


@pytest.mark.benchmark(group="secp256k1_sign_batch")
def test_secp256k1_sign_batch__coincurve(benchmark: Any) -> None:
    key = coincurve.PrivateKey(SECP_KEY)
    signatures = _batch(benchmark, lambda: [key.sign(d, hasher=None) for d in DIGESTS])
    assert len(signatures) == BATCH


# --- secp256k1: 10,000 verifications -----------------------------------------


@pytest.mark.benchmark(group="secp256k1_verify_batch")
def test_secp256k1_verify_batch__skms(benchmark: Any) -> None:
    public_key = secp256k1.public_key(SECP_KEY)
    signatures = secp256k1.sign_batch(SECP_KEY, DIGESTS)
    results = _batch(benchmark, lambda: secp256k1.verify_batch(public_key, DIGESTS, signatures))
    assert all(results)


@pytest.mark.benchmark(group="secp256k1_verify_batch")
def test_secp256k1_verify_batch__coincurve(benchmark: Any) -> None:
    key = coincurve.PrivateKey(SECP_KEY)
    public_key = key.public_key
    signatures = [key.sign(d, hasher=None) for d in DIGESTS]
    pairs = list(zip(signatures, DIGESTS, strict=True))
    results = _batch(benchmark, lambda: [public_key.verify(s, d, hasher=None) for s, d in pairs])
    assert all(results)


# --- Ed25519: one signature --------------------------------------------------


@pytest.mark.benchmark(group="ed25519_sign")
def test_ed25519_sign__skms(benchmark: Any) -> None:
    signature = _single(benchmark, lambda: ed25519.sign(ED_KEY, MESSAGE))
    assert len(signature) == 64


@pytest.mark.benchmark(group="ed25519_sign")
def test_ed25519_sign__pynacl(benchmark: Any) -> None:
    key = nacl.signing.SigningKey(ED_KEY)
    signed = _single(benchmark, lambda: key.sign(MESSAGE))
    assert signed.signature == ed25519.sign(ED_KEY, MESSAGE)


@pytest.mark.benchmark(group="ed25519_sign")
def test_ed25519_sign__cryptography(benchmark: Any) -> None:
    key = Ed25519PrivateKey.from_private_bytes(ED_KEY)
    signature = _single(benchmark, lambda: key.sign(MESSAGE))
    assert signature == ed25519.sign(ED_KEY, MESSAGE)


# --- Ed25519: 10,000 signatures ----------------------------------------------


@pytest.mark.benchmark(group="ed25519_sign_batch")
def test_ed25519_sign_batch__skms(benchmark: Any) -> None:
    _target(benchmark, 1.7, "pynacl", BATCH_SIGNING)
    signatures = _batch(benchmark, lambda: ed25519.sign_batch(ED_KEY, MESSAGES))
    assert len(signatures) == BATCH


@pytest.mark.benchmark(group="ed25519_sign_batch")
def test_ed25519_sign_batch__pynacl(benchmark: Any) -> None:
    key = nacl.signing.SigningKey(ED_KEY)
    signatures = _batch(benchmark, lambda: [key.sign(m).signature for m in MESSAGES])
    assert len(signatures) == BATCH


@pytest.mark.benchmark(group="ed25519_sign_batch")
def test_ed25519_sign_batch__cryptography(benchmark: Any) -> None:
    key = Ed25519PrivateKey.from_private_bytes(ED_KEY)
    signatures = _batch(benchmark, lambda: [key.sign(m) for m in MESSAGES])
    assert len(signatures) == BATCH


# --- Ed25519: 10,000 verifications -------------------------------------------


@pytest.mark.benchmark(group="ed25519_verify_batch")
def test_ed25519_verify_batch__skms(benchmark: Any) -> None:
    _target(benchmark, 2.0, "pynacl", BATCH_VERIFY)
    public_key = ed25519.public_key(ED_KEY)
    signatures = ed25519.sign_batch(ED_KEY, MESSAGES)
    results = _batch(benchmark, lambda: ed25519.verify_batch(public_key, MESSAGES, signatures))
    assert all(results)


@pytest.mark.benchmark(group="ed25519_verify_batch")
def test_ed25519_verify_batch__pynacl(benchmark: Any) -> None:
    verify_key = nacl.signing.SigningKey(ED_KEY).verify_key
    signatures = ed25519.sign_batch(ED_KEY, MESSAGES)
    pairs = list(zip(MESSAGES, signatures, strict=True))
    results = _batch(benchmark, lambda: [verify_key.verify(m, s) for m, s in pairs])
    assert len(results) == BATCH


@pytest.mark.benchmark(group="ed25519_verify_batch")
def test_ed25519_verify_batch__cryptography(benchmark: Any) -> None:
    public_key = Ed25519PrivateKey.from_private_bytes(ED_KEY).public_key()
    signatures = ed25519.sign_batch(ED_KEY, MESSAGES)
    pairs = list(zip(signatures, MESSAGES, strict=True))
    # verify() returns None and raises on a bad signature.
    results = _batch(benchmark, lambda: [public_key.verify(s, m) for s, m in pairs])
    assert len(results) == BATCH
