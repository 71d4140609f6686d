"""Ethereum: EIP-55 addresses, personal_sign (EIP-191), EIP-712 and transaction digests."""

from typing import NamedTuple

from skms._native import secp256k1
from skms._native.address import ethereum_address, parse_ethereum_address
from skms._native.address import to_checksum_address as _checksum
from skms._native.ethereum import eip712_digest as _eip712_digest
from skms._native.ethereum import personal_message_digest as _personal_digest
from skms._native.hashes import keccak256 as _keccak256
from skms.errors import InvalidInput, InvalidSignature
from skms.wallet._keys import PrivateKey, private_key_of

_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class EthereumSignature(NamedTuple):
    """An ECDSA signature as Ethereum carries it: v, r, s."""

    v: int
    r: int
    s: int

    @property
    def y_parity(self) -> int:
        """The recovery bit (0 or 1), as typed transactions (EIP-2930, EIP-1559) carry it."""
        return _y_parity(self.v)

    def to_bytes(self) -> bytes:
        """65 bytes r ‖ s ‖ v with v as 27 or 28."""
        return self.r.to_bytes(32, "big") + self.s.to_bytes(32, "big") + bytes([27 + self.y_parity])


def _y_parity(v: int) -> int:
    if v in (0, 1):
        return v
    if v in (27, 28):
        return v - 27
    if v >= 35:
        return (v - 35) % 2
    raise InvalidSignature(f"v must be 0, 1, 27, 28 or an EIP-155 value >= 35, got {v}")


def _check_chain_id(chain_id: int | None) -> None:
    # A negative id gave a v below 35 that reads as another signature form (or as no chain at all).
    if chain_id is not None and (not isinstance(chain_id, int) or isinstance(chain_id, bool) or chain_id < 1):
        raise InvalidInput(f"chain_id must be a positive integer (EIP-155), got {chain_id!r}", field="chain_id")


def keccak256(data: bytes) -> bytes:
    return _keccak256(data)


def address(public_key: bytes) -> str:
    """The EIP-55 address of a secp256k1 public key (compressed or not)."""
    return ethereum_address(public_key)


def to_checksum_address(address: str) -> str:
    return _checksum(address)


def validate_address(address: str) -> None:
    """Raises :class:`skms.errors.InvalidAddress` for a malformed address or a bad checksum."""
    parse_ethereum_address(address)


def personal_message_digest(message: bytes) -> bytes:
    """keccak256("\\x19Ethereum Signed Message:\\n" + len + message)."""
    return _personal_digest(message)


def eip712_digest(domain_separator: bytes, struct_hash: bytes) -> bytes:
    return _eip712_digest(domain_separator, struct_hash)


def personal_sign(key: PrivateKey, message: bytes) -> bytes:
    """65 bytes r ‖ s ‖ v (v 27 or 28), as wallets return for ``personal_sign``."""
    sig = secp256k1.sign_recoverable(private_key_of(key), _personal_digest(message))
    return sig[:64] + bytes([27 + sig[64]])


def recover_personal(message: bytes, signature: bytes) -> str:
    """The address that made a ``personal_sign`` signature."""
    return _recover(_personal_digest(message), signature)


def sign_digest(key: PrivateKey, digest: bytes, chain_id: int | None = None) -> EthereumSignature:
    """Signs a 32-byte digest (EIP-712 or a transaction's signing hash).

    ``v`` is 27 + parity without ``chain_id`` and parity + 35 + 2·chain_id with it (EIP-155).
    """
    _check_chain_id(chain_id)
    sig = secp256k1.sign_recoverable(private_key_of(key), digest)
    parity = sig[64]
    v = 27 + parity if chain_id is None else parity + 35 + 2 * chain_id
    return EthereumSignature(v, int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"))


def recover_digest(digest: bytes, signature: EthereumSignature | bytes, chain_id: int | None = None) -> str:
    """The address that signed ``digest``."""
    _check_chain_id(chain_id)
    if isinstance(signature, EthereumSignature):
        if chain_id is not None and signature.v >= 35 and (signature.v - 35) // 2 != chain_id:
            raise InvalidSignature(f"v={signature.v} is not an EIP-155 value for chain {chain_id}")
        if not (0 < signature.r < _N and 0 < signature.s < _N):
            raise InvalidSignature("r and s must be in [1, n-1]")
        raw = signature.to_bytes()
    else:
        raw = signature
    return _recover(digest, raw)


def _recover(digest: bytes, signature: bytes) -> str:
    if len(signature) != 65:
        raise InvalidSignature(f"an Ethereum signature is 65 bytes, got {len(signature)}")
    rsv = signature[:64] + bytes([_y_parity(signature[64])])
    return ethereum_address(secp256k1.recover(digest, rsv, compressed=False))


__all__ = [
    "EthereumSignature",
    "address",
    "eip712_digest",
    "keccak256",
    "personal_message_digest",
    "personal_sign",
    "recover_digest",
    "recover_personal",
    "sign_digest",
    "to_checksum_address",
    "validate_address",
]
