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
from skms.crypto.keys import require_bytes
from skms.crypto.memory import exposed, take
from skms.errors import InvalidInput, InvalidType, UnknownAlgorithm

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
    if isinstance(value, SecretBytes):
        return value.expose_secret()
    if not isinstance(value, bytes):
        raise InvalidType(f"key material and passwords must be bytes or SecretBytes, got {type(value).__name__}")
    return value


def _int(name: str, value: object, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidType(f"{name} must be an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be {low} to {high}, got {value}")
    return value


def _check_length(length: int) -> None:
    _int("length", length, 1, 1024)


def _check_salt(salt: bytes) -> None:
    require_bytes(salt, "salt")
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
    if (salt is not None and not isinstance(salt, bytes)) or not isinstance(info, bytes):
        raise InvalidType("salt and info must be bytes")
    if isinstance(ikm, SecretBytes):  # lent in a wiped buffer; the output goes straight into a SecretBytes
        with exposed(ikm) as buffer:
            return take(HKDF(_hash(hash), length, salt, info).derive(buffer))
    return take(HKDF(_hash(hash), length, salt, info).derive(_material(ikm)))


def pbkdf2(
    password: bytes | SecretBytes,
    salt: bytes,
    iterations: int = PBKDF2_ITERATIONS,
    length: int = 32,
    hash: str = "sha256",
) -> SecretBytes:
    _check_length(length)
    _check_salt(salt)
    _int("iterations", iterations, 1, 100_000_000)
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
    _int("n", n, 2, 2**24)
    _int("r", r, 1, 64)
    _int("p", p, 1, 16)
    if n & (n - 1):
        raise InvalidInput(f"scrypt n must be a power of two above 1, got {n}")
    if 128 * n * r > 2**31:
        raise InvalidInput("scrypt n * r needs more than 2 GiB of memory")
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
    _int("lanes", lanes, 1, 64)
    _int("iterations", iterations, 1, 1000)
    _int("memory_kib", memory_kib, 8 * lanes, 4 * 1024 * 1024)
    kdf = Argon2id(salt=salt, length=length, iterations=iterations, lanes=lanes, memory_cost=memory_kib)
    return SecretBytes(kdf.derive(_material(password)))


__all__ = ["argon2id", "hkdf", "pbkdf2", "scrypt"]
