"""Hashes, keyed BLAKE3, KDFs and the pluggable random source (issue 4).

Oracles: hashlib, the ``blake3`` package and the BLAKE3 team's vectors,
pycryptodome's Keccak (independent of the native core's), RFC 5869, RFC 9106
through cryptography, and libargon2 through argon2-cffi.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import argon2.low_level
import blake3
import pytest
from Crypto.Hash import keccak as pycryptodome_keccak
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from hypothesis import given
from hypothesis import strategies as st

from skms import SecretBytes, errors
from skms.crypto import ALGORITHMS, generate_key, kdf, load_private_key
from skms.crypto import random as skms_random
from skms.crypto.hashes import DIGEST_SIZES, HASHES, digest, keyed_blake3
from skms.crypto.keys import MacKey

Vectors = Callable[[str], Any]

HASHLIB_NAMES = {
    "sha256": "sha256", "sha384": "sha384", "sha512": "sha512", "sha3-256": "sha3_256",
    "sha3-512": "sha3_512", "blake2b": "blake2b", "blake2s": "blake2s",
}  # fmt: skip
MESSAGES = [b"", b"a", b"abc", bytes(range(256)) * 4, b"\xff" * 1_000_003]


def _keccak256(data: bytes) -> bytes:
    return pycryptodome_keccak.new(digest_bits=256, data=data).digest()


# --- Hashes -----------------------------------------------------------------------------------


def test_hash_table() -> None:
    assert set(HASHES) == set(HASHLIB_NAMES) | {"keccak256", "blake3"} == set(DIGEST_SIZES)


@pytest.mark.parametrize("name", sorted(HASHLIB_NAMES))
def test_digest_matches_hashlib(name: str) -> None:
    for message in MESSAGES:
        out = digest(name, message)
        assert out == hashlib.new(HASHLIB_NAMES[name], message).digest()
        assert len(out) == DIGEST_SIZES[name]
    assert len(MESSAGES) == 5


def test_keccak256_known_answers() -> None:
    """Ethereum's Keccak-256 (original padding), not FIPS 202 SHA3-256."""
    empty = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert digest("keccak256", b"").hex() == empty
    assert digest("keccak256", b"abc").hex() == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
    assert digest("sha3-256", b"").hex() == "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"
    for message in MESSAGES:
        assert digest("keccak256", message) == _keccak256(message)


@given(st.binary(max_size=600))
def test_keccak256_matches_pycryptodome(data: bytes) -> None:
    assert digest("keccak256", data) == _keccak256(data)


def _blake3_input(length: int) -> bytes:
    return bytes(i % 251 for i in range(length))


def test_blake3_official_vectors(vectors: Vectors) -> None:
    data = vectors("blake3_test_vectors.json")
    key = data["key"].encode()
    for case in data["cases"]:
        message = _blake3_input(case["input_len"])
        assert digest("blake3", message).hex() == case["hash"]
        assert keyed_blake3(key, message).hex() == case["keyed_hash"]
        mac_key = load_private_key("blake3-keyed", key)
        assert isinstance(mac_key, MacKey)
        assert mac_key.mac(message).hex() == case["keyed_hash"]
        assert mac_key.verify(message, bytes.fromhex(case["keyed_hash"])) is True
    assert len(data["cases"]) == 5


@given(st.binary(min_size=32, max_size=32), st.binary(max_size=3000))
def test_keyed_blake3_matches_blake3_package(key: bytes, data: bytes) -> None:
    assert keyed_blake3(key, data) == blake3.blake3(data, key=key).digest()
    assert digest("blake3", data) == blake3.blake3(data).digest()


@pytest.mark.parametrize("name", ["sha1", "md5", "SHA256", "sha-256", "keccak-256", "blake3-keyed", ""])
def test_unknown_hash(name: str) -> None:
    with pytest.raises(errors.UnknownAlgorithm):
        digest(name, b"")


@pytest.mark.parametrize("data", ["text", None, 1, bytearray(b"x"), memoryview(b"x")])
def test_digest_needs_bytes(data: Any) -> None:
    with pytest.raises(errors.InvalidType):
        digest("sha256", data)


def test_digest_unhashable_algorithm_name() -> None:
    with pytest.raises(errors.SKMSError):
        digest(["sha256"], b"")  # type: ignore[arg-type]


@pytest.mark.parametrize(("key", "data"), [(b"short", b"x"), (b"k" * 33, b"x"), (b"k" * 32, "text")])
def test_keyed_blake3_bad_input(key: Any, data: Any) -> None:
    with pytest.raises(errors.InvalidInput):
        keyed_blake3(key, data)


# --- HKDF (RFC 5869) ---------------------------------------------------------------------------


def _independent_hkdf(hash_name: str, ikm: bytes, salt: bytes, info: bytes, length: int) -> tuple[bytes, bytes]:
    """RFC 5869 §2, on Python's hmac module."""
    size = hashlib.new(hash_name).digest_size
    prk = hmac.new(salt or bytes(size), ikm, hash_name).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hash_name).digest()
        okm, counter = okm + block, counter + 1
    return prk, okm[:length]


def test_hkdf_rfc5869(vectors: Vectors) -> None:
    data = vectors("rfc5869_hkdf_vectors.json")
    for case in data["tests"]:
        ikm, salt, info = (bytes.fromhex(case[f]) for f in ("ikm", "salt", "info"))
        okm = kdf.hkdf(ikm, case["length"], salt or None, info)
        assert isinstance(okm, SecretBytes)
        assert okm.expose_secret().hex() == case["okm"]
        assert kdf.hkdf(SecretBytes(ikm), case["length"], salt, info).expose_secret().hex() == case["okm"]
        prk, independent = _independent_hkdf("sha256", ikm, salt, info, case["length"])
        assert (prk.hex(), independent.hex()) == (case["prk"], case["okm"])
    assert len(data["tests"]) == 3


@pytest.mark.parametrize("hash_name", ["sha256", "sha384", "sha512"])
def test_hkdf_matches_independent(hash_name: str) -> None:
    for length in (1, 32, 64, 100, 1024):
        args = (b"input keying material", b"salt" * 5, b"skms:test")
        expected = _independent_hkdf(hash_name, *args, length)[1]
        assert kdf.hkdf(args[0], length, args[1], args[2], hash=hash_name).expose_secret() == expected


# --- PBKDF2, scrypt, Argon2id -----------------------------------------------------------------

SALT = b"sixteen byte salt"


@pytest.mark.parametrize("hash_name", ["sha256", "sha384", "sha512"])
@pytest.mark.parametrize("iterations", [1, 2, 1000])
def test_pbkdf2_matches_hashlib(hash_name: str, iterations: int) -> None:
    for length in (1, 32, 100):
        expected = hashlib.pbkdf2_hmac(hash_name, b"password", SALT, iterations, length)
        assert kdf.pbkdf2(b"password", SALT, iterations, length, hash=hash_name).expose_secret() == expected


@pytest.mark.parametrize(("n", "r", "p"), [(2, 1, 1), (16, 1, 2), (1024, 8, 1), (2**12, 4, 3)])
def test_scrypt_matches_hashlib(n: int, r: int, p: int) -> None:
    expected = hashlib.scrypt(b"password", salt=SALT, n=n, r=r, p=p, dklen=48)
    assert kdf.scrypt(b"password", SALT, n=n, r=r, p=p, length=48).expose_secret() == expected


def test_argon2id_rfc9106(vectors: Vectors) -> None:
    """RFC 9106 §5.3 has a secret (K) and associated data (X). skms.crypto.kdf.argon2id
    takes neither, so the vector runs through cryptography's Argon2id, which skms
    wraps; skms itself is compared with libargon2 below."""
    data = vectors("rfc9106_argon2_vectors.json")
    for case in data["tests"]:
        password, salt, secret, ad = (bytes.fromhex(case[f]) for f in ("password", "salt", "secret", "associated_data"))
        tag = Argon2id(
            salt=salt, length=case["tag_length"], iterations=case["iterations"], lanes=case["lanes"],
            memory_cost=case["memory_kib"], ad=ad, secret=secret,
        ).derive(password)  # fmt: skip
        assert tag.hex() == case["tag"]
        assert "secret" not in inspect.signature(kdf.argon2id).parameters
    assert len(data["tests"]) == 1


@pytest.mark.parametrize(("memory_kib", "iterations", "lanes"), [(32, 3, 4), (64, 1, 1), (1024, 2, 2), (8, 1, 1)])
def test_argon2id_matches_libargon2(memory_kib: int, iterations: int, lanes: int) -> None:
    password, salt = b"\x01" * 32, b"\x02" * 16
    expected = argon2.low_level.hash_secret_raw(
        password, salt, iterations, memory_kib, lanes, 32, argon2.low_level.Type.ID
    )
    out = kdf.argon2id(password, salt, memory_kib=memory_kib, iterations=iterations, lanes=lanes, length=32)
    assert out.expose_secret() == expected


def test_password_hashing_defaults_meet_owasp() -> None:
    """OWASP Password Storage Cheat Sheet: PBKDF2-HMAC-SHA256 600,000 iterations;
    scrypt N=2^17, r=8, p=1; Argon2id m=19 MiB, t=2, p=1."""
    assert kdf.PBKDF2_ITERATIONS >= 600_000
    defaults = {name: p.default for name, p in inspect.signature(kdf.scrypt).parameters.items()}
    assert defaults["n"] >= 2**17 and defaults["r"] >= 8 and defaults["p"] >= 1
    argon = {name: p.default for name, p in inspect.signature(kdf.argon2id).parameters.items()}
    assert argon["memory_kib"] >= 19 * 1024 and argon["iterations"] >= 2 and argon["lanes"] >= 1
    assert inspect.signature(kdf.pbkdf2).parameters["hash"].default == "sha256"


def test_password_hashing_defaults_are_used() -> None:
    """One derivation with each default, checked against an independent implementation."""
    password = b"correct horse battery staple"
    assert kdf.pbkdf2(password, SALT).expose_secret() == hashlib.pbkdf2_hmac("sha256", password, SALT, 600_000)
    assert kdf.scrypt(password, SALT).expose_secret() == hashlib.scrypt(
        password, salt=SALT, n=2**17, r=8, p=1, dklen=32, maxmem=2**28
    )
    assert kdf.argon2id(password, SALT).expose_secret() == argon2.low_level.hash_secret_raw(
        password, SALT, 2, 19 * 1024, 1, 32, argon2.low_level.Type.ID
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda: kdf.hkdf(b"x", 0),
        lambda: kdf.hkdf(b"x", 1025),
        lambda: kdf.pbkdf2(b"p", b"short salt", 1),
        lambda: kdf.pbkdf2(b"p", SALT, 0),
        lambda: kdf.pbkdf2(b"p", SALT, -5),
        lambda: kdf.scrypt(b"p", b"short", n=16),
        lambda: kdf.scrypt(b"p", SALT, n=1000),
        lambda: kdf.scrypt(b"p", SALT, n=1),
        lambda: kdf.argon2id(b"p", SALT, memory_kib=7, lanes=1),
        lambda: kdf.argon2id(b"p", SALT, memory_kib=32, lanes=8),
        lambda: kdf.argon2id(b"p", SALT, iterations=0, memory_kib=8),
        lambda: kdf.argon2id(b"p", b"", memory_kib=8),
    ],
)
def test_kdf_bad_parameters(call: Callable[[], Any]) -> None:
    with pytest.raises(errors.InvalidInput):
        call()


@pytest.mark.parametrize("hash_name", ["md5", "sha1", "SHA256", "sha3-256"])
def test_kdf_unknown_hash(hash_name: str) -> None:
    with pytest.raises(errors.UnknownAlgorithm):
        kdf.hkdf(b"x", hash=hash_name)
    with pytest.raises(errors.UnknownAlgorithm):
        kdf.pbkdf2(b"x", SALT, 1, hash=hash_name)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: kdf.hkdf("text"), id="hkdf-str-ikm"),
        pytest.param(lambda: kdf.hkdf(b"x", salt="s"), id="hkdf-str-salt"),
        pytest.param(lambda: kdf.hkdf(b"x", length="32"), id="hkdf-str-length"),
        pytest.param(lambda: kdf.pbkdf2("password", SALT, 1), id="pbkdf2-str-password"),
        pytest.param(lambda: kdf.scrypt(b"p", SALT, n=16, r=0), id="scrypt-r0"),
        pytest.param(lambda: kdf.scrypt(b"p", SALT, n=2**30), id="scrypt-huge-n"),
        pytest.param(lambda: kdf.argon2id(b"p", SALT, memory_kib=2**32), id="argon2-huge-memory"),
    ],
)
def test_kdf_bad_input_is_named(call: Callable[[], Any]) -> None:
    with pytest.raises(errors.InvalidInput):
        call()


# --- Random source ------------------------------------------------------------------------------


class CountingSource:
    """A deterministic stream: SHAKE-256(seed ‖ counter) blocks."""

    def __init__(self, seed: bytes) -> None:
        self.seed, self.counter, self.calls = seed, 0, 0

    def random_bytes(self, n: int) -> bytes:
        self.calls += 1
        out = hashlib.shake_256(self.seed + self.counter.to_bytes(8, "big")).digest(n)
        self.counter += 1
        return out


@pytest.fixture
def restore_random_source() -> Iterator[None]:
    original = skms_random.get_random_source()
    try:
        yield
    finally:
        skms_random.set_random_source(original)
    assert skms_random.get_random_source() is original


# Keys generated from random seeds, which draw from the source (mixed with the OS). RSA
# (OpenSSL's generator) and Falcon (the fn-dsa crate's) draw from their own CSPRNGs.
SEEDED = [a for a in ALGORITHMS if not a.startswith(("rsa-", "falcon-", "schnorr-"))]
NOT_SEED_BASED = ["rsa-3072", "rsa-4096", "falcon-512", "falcon-1024"]


def _fingerprint(key: Any) -> bytes:
    raw = key.export("raw") if "rsa" not in key.algorithm else key.export("pkcs8-der")
    assert isinstance(raw, bytes)
    return raw


def test_default_source_is_the_os() -> None:
    assert isinstance(skms_random.get_random_source(), skms_random.OsRandom)
    assert len(skms_random.random_bytes(48)) == 48
    assert skms_random.random_bytes(32) != skms_random.random_bytes(32)


@pytest.mark.usefixtures("restore_random_source")
@pytest.mark.parametrize("algorithm", [*SEEDED, "schnorr-secp256k1"])
def test_every_seed_based_type_draws_from_the_source(algorithm: str) -> None:
    source = CountingSource(b"seed")
    skms_random.set_random_source(source)
    first = generate_key(algorithm)
    assert source.calls >= 1
    # The same source stream again: the OS half still makes the key new (mixed, not replaced).
    skms_random.set_random_source(CountingSource(b"seed"))
    assert _fingerprint(generate_key(algorithm)) != _fingerprint(first)


class ConstantSource:
    """The worst generator: the same byte forever."""

    def __init__(self, byte: int) -> None:
        self.byte = byte

    def random_bytes(self, n: int) -> bytes:
        return bytes([self.byte]) * n


@pytest.mark.usefixtures("restore_random_source")
@pytest.mark.parametrize("byte", [0x00, 0xFF])
def test_a_constant_source_cannot_fix_the_key(byte: int) -> None:
    """Key bytes are OS XOR source: a broken (or hostile) source alone does not decide them."""
    skms_random.set_random_source(ConstantSource(byte))
    raws = {generate_key("aes256-gcm").export("raw") for _ in range(16)}  # type: ignore[attr-defined]
    assert len(raws) == 16 and bytes([byte]) * 32 not in raws
    secrets = [skms_random.random_secret(32) for _ in range(4)]
    assert len({s.expose_secret() for s in secrets}) == 4
    assert len({skms_random.random_bytes(32) for _ in range(4)}) == 4


@pytest.mark.usefixtures("restore_random_source")
def test_the_source_half_is_wiped_after_mixing() -> None:
    drawn: list[bytes] = []

    class Keeping:
        def random_bytes(self, n: int) -> bytes:
            drawn.append(hashlib.shake_256(b"x" + len(drawn).to_bytes(8, "big")).digest(n))
            return drawn[-1]

    skms_random.set_random_source(Keeping())
    generate_key("ed25519")
    assert drawn and all(d == bytes(len(d)) for d in drawn)


@pytest.mark.usefixtures("restore_random_source")
def test_run_generation_draws_ahead_and_falls_back() -> None:
    """A coroutine's generation takes its source bytes from one draw made ahead (off the loop);
    past them (a rejection-sampling retry) it asks the source again; from the OS it just runs."""
    assert asyncio.run(skms_random.run_generation(len, b"os")) == 2
    source = CountingSource(b"seed")
    skms_random.set_random_source(source)
    key = asyncio.run(skms_random.run_generation(generate_key, "ed25519"))
    assert source.calls == 1 and len(key.export("raw")) == 32  # type: ignore[attr-defined]

    def three() -> list[SecretBytes]:
        return [skms_random.random_secret(skms_random.PREFETCH // 2) for _ in range(3)]

    parts = asyncio.run(skms_random.run_generation(three))
    assert source.calls == 3 and len({p.expose_secret() for p in parts}) == 3
    skms_random.random_secret(16)  # outside a generation: a draw of its own
    assert source.calls == 4


@pytest.mark.usefixtures("restore_random_source")
def test_nonces_do_not_come_from_the_key_source() -> None:
    """AEAD nonces come from the OS directly: the key source is not asked for them."""
    source = CountingSource(b"seed")
    skms_random.set_random_source(source)
    key = generate_key("aes256-gcm")
    calls = source.calls
    assert key.encrypt(b"m") != key.encrypt(b"m")  # type: ignore[attr-defined]
    assert source.calls == calls


@pytest.mark.usefixtures("restore_random_source")
@pytest.mark.parametrize("algorithm", NOT_SEED_BASED)
def test_generators_with_their_own_csprng(algorithm: str) -> None:
    """Documented exception: RSA (OpenSSL) and Falcon (the fn-dsa crate) never ask the source."""
    source = CountingSource(b"seed")
    skms_random.set_random_source(source)
    assert _fingerprint(generate_key(algorithm)) != _fingerprint(generate_key(algorithm))
    assert source.calls == 0


class ShortSource:
    def random_bytes(self, n: int) -> bytes:
        return bytes(n - 1)


@pytest.mark.usefixtures("restore_random_source")
@pytest.mark.parametrize("source", [ShortSource(), None, object()], ids=["short", "none", "object"])
def test_bad_random_source_is_named(source: Any) -> None:
    with pytest.raises(errors.SKMSError):
        skms_random.set_random_source(source)
        generate_key("aes256-gcm")
