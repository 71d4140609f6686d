"""Hash functions by name: SHA-2, SHA-3, Keccak-256, BLAKE2, BLAKE3."""

import hashlib
from collections.abc import Callable

import blake3 as _blake3

from skms._native.hashes import keccak256 as _keccak256
from skms.errors import InvalidInput, InvalidType, UnknownAlgorithm


def _hashlib(name: str) -> Callable[[bytes], bytes]:
    def digest(data: bytes) -> bytes:
        return hashlib.new(name, data).digest()

    return digest


def _blake3_digest(data: bytes) -> bytes:
    return _blake3.blake3(data).digest()


HASHES: dict[str, Callable[[bytes], bytes]] = {
    "sha256": _hashlib("sha256"),
    "sha384": _hashlib("sha384"),
    "sha512": _hashlib("sha512"),
    "sha3-256": _hashlib("sha3_256"),
    "sha3-512": _hashlib("sha3_512"),
    "keccak256": _keccak256,
    "blake2b": _hashlib("blake2b"),
    "blake2s": _hashlib("blake2s"),
    "blake3": _blake3_digest,
}

DIGEST_SIZES = {
    "sha256": 32, "sha384": 48, "sha512": 64, "sha3-256": 32, "sha3-512": 64,
    "keccak256": 32, "blake2b": 64, "blake2s": 32, "blake3": 32,
}  # fmt: skip


def digest(algorithm: str, data: bytes) -> bytes:
    """The digest of ``data`` under ``algorithm`` (one of :data:`HASHES`)."""
    if not isinstance(algorithm, str):
        raise InvalidType(f"the hash name must be a string, got {type(algorithm).__name__}")
    try:
        fn = HASHES[algorithm]
    except KeyError:
        raise UnknownAlgorithm(f"unknown hash {algorithm!r}; expected one of {', '.join(HASHES)}") from None
    if not isinstance(data, bytes):
        raise InvalidType(f"data must be bytes, got {type(data).__name__}")
    return fn(data)


def keyed_blake3(key: bytes, data: bytes) -> bytes:
    """BLAKE3 in keyed mode (a MAC): ``key`` is 32 bytes."""
    if not isinstance(key, bytes) or not isinstance(data, bytes):
        raise InvalidType("keyed BLAKE3 takes bytes for key and data")
    if len(key) != 32:
        raise InvalidInput(f"a keyed BLAKE3 key is 32 bytes, got {len(key)}")
    return _blake3.blake3(data, key=key).digest()


__all__ = ["DIGEST_SIZES", "HASHES", "digest", "keyed_blake3"]
