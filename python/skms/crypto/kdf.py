"""Key derivation: HKDF, PBKDF2, scrypt, Argon2id.

Password-hashing defaults are at least the OWASP Password Storage Cheat Sheet
recommendations: PBKDF2-HMAC-SHA256 600,000 iterations; scrypt N=2^17, r=8,
p=1; Argon2id 19 MiB, 2 passes, 1 lane. Outputs are :class:`SecretBytes`.
"""

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from skms._native import SecretBytes
from skms.errors import InvalidInput, UnknownAlgorithm

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

PBKDF2_ITERATIONS = 600_000
SCRYPT_N = 2**17
ARGON2ID_MEMORY_KIB = 19 * 1024
ARGON2ID_ITERATIONS = 2
ARGON2ID_LANES = 1
MIN_SALT = 16


def _hash(name: str) -> hashes.HashAlgorithm:
    try:
        return _HASHES[name]()
    except KeyError:
        raise UnknownAlgorithm(f"unknown KDF hash {name!r}; expected {', '.join(_HASHES)}") from None


def _material(value: bytes | SecretBytes) -> bytes:
    return value.expose_secret() if isinstance(value, SecretBytes) else value


def _check_length(length: int) -> None:
    if not 1 <= length <= 1024:
        raise InvalidInput(f"output length must be 1 to 1024 bytes, got {length}")


def _check_salt(salt: bytes) -> None:
    if len(salt) < MIN_SALT:
        raise InvalidInput(f"salt must be at least {MIN_SALT} bytes, got {len(salt)}")


def hkdf(
    ikm: bytes | SecretBytes,
    length: int = 32,
    salt: bytes | None = None,
    info: bytes = b"",
    hash: str = "sha256",
) -> SecretBytes:
    """HKDF (RFC 5869) extract-and-expand."""
    _check_length(length)
    return SecretBytes(HKDF(_hash(hash), length, salt, info).derive(_material(ikm)))


def pbkdf2(
    password: bytes | SecretBytes,
    salt: bytes,
    iterations: int = PBKDF2_ITERATIONS,
    length: int = 32,
    hash: str = "sha256",
) -> SecretBytes:
    _check_length(length)
    _check_salt(salt)
    if iterations < 1:
        raise InvalidInput(f"iterations must be positive, got {iterations}")
    kdf = PBKDF2HMAC(_hash(hash), length, salt, iterations)
    return SecretBytes(kdf.derive(_material(password)))


def scrypt(
    password: bytes | SecretBytes,
    salt: bytes,
    n: int = SCRYPT_N,
    r: int = 8,
    p: int = 1,
    length: int = 32,
) -> SecretBytes:
    _check_length(length)
    _check_salt(salt)
    if n < 2 or n & (n - 1):
        raise InvalidInput(f"scrypt n must be a power of two above 1, got {n}")
    return SecretBytes(Scrypt(salt, length, n, r, p).derive(_material(password)))


def argon2id(
    password: bytes | SecretBytes,
    salt: bytes,
    memory_kib: int = ARGON2ID_MEMORY_KIB,
    iterations: int = ARGON2ID_ITERATIONS,
    lanes: int = ARGON2ID_LANES,
    length: int = 32,
) -> SecretBytes:
    """Argon2id (RFC 9106)."""
    _check_length(length)
    _check_salt(salt)
    if memory_kib < 8 * lanes or iterations < 1 or lanes < 1:
        raise InvalidInput("argon2id needs memory_kib >= 8 * lanes, iterations >= 1, lanes >= 1")
    kdf = Argon2id(salt=salt, length=length, iterations=iterations, lanes=lanes, memory_cost=memory_kib)
    return SecretBytes(kdf.derive(_material(password)))


__all__ = ["argon2id", "hkdf", "pbkdf2", "scrypt"]
