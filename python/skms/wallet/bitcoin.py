"""Bitcoin: addresses, ECDSA and taproot (BIP340 + BIP86 tweak) signing, BIP137 messages."""

import base64
import binascii
from typing import NamedTuple

from skms._native import bitcoin as _btc
from skms._native import secp256k1
from skms._native.address import bitcoin_address, parse_bitcoin_address
from skms.errors import InvalidAddress, InvalidSignature
from skms.wallet._keys import PrivateKey, private_key_of


class BitcoinAddress(NamedTuple):
    """A decoded address. ``kind``: p2pkh, p2sh, p2wpkh, p2wsh, p2tr or witness-vN."""

    kind: str
    network: str
    program: bytes


def address(public_key: bytes, kind: str = "p2wpkh", network: str = "mainnet") -> str:
    """The address of a public key; ``p2tr`` applies the BIP86 key-path-only tweak."""
    return bitcoin_address(public_key, kind, network)


def parse_address(address: str) -> BitcoinAddress:
    return BitcoinAddress(*parse_bitcoin_address(address))


def validate_address(address: str, network: str | None = None) -> None:
    """Raises :class:`skms.errors.InvalidAddress` naming the problem."""
    parse_bitcoin_address(address, network)


def taproot_output_key(internal_key: bytes, merkle_root: bytes | None = None) -> bytes:
    """The BIP341 output key (32 bytes, x-only) of an internal key."""
    return _btc.taproot_output_key(internal_key, merkle_root)


def sign_sighash(key: PrivateKey, sighash: bytes) -> bytes:
    """ECDSA over a segwit v0 or legacy sighash: strict DER, low-S (append the hashtype byte)."""
    return secp256k1.sign_der(private_key_of(key), sighash)


def verify_sighash(public_key: bytes, sighash: bytes, signature: bytes) -> bool:
    return secp256k1.verify(public_key, sighash, signature)


def sign_taproot(
    key: PrivateKey,
    sighash: bytes,
    aux_rand: bytes | None = None,
    merkle_root: bytes | None = None,
) -> bytes:
    """BIP340 signature for a key-path spend, with the key tweaked as BIP341/BIP86 say."""
    tweaked = _btc.taproot_tweak_private_key(private_key_of(key), merkle_root)
    return secp256k1.schnorr_sign(tweaked, sighash, aux_rand)


def verify_taproot(output_key: bytes, sighash: bytes, signature: bytes) -> bool:
    return secp256k1.schnorr_verify(output_key, sighash, signature)


def _message_bytes(message: str | bytes) -> bytes:
    return message.encode() if isinstance(message, str) else message


def sign_message(key: PrivateKey, message: str | bytes, kind: str = "p2pkh") -> str:
    """A BIP137 signed message, base64 (header 31-34 p2pkh, 35-38 p2sh-p2wpkh, 39-42 p2wpkh)."""
    raw = _btc.sign_message(private_key_of(key), _message_bytes(message), kind)
    return base64.b64encode(raw).decode()


def _decode_signature(signature: str) -> bytes:
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidSignature("a signed-message signature is base64") from e
    if len(raw) != 65:
        raise InvalidSignature(f"a signed-message signature is 65 bytes, got {len(raw)}")
    return raw


def recover_message_public_key(message: str | bytes, signature: str) -> bytes:
    """The public key that signed a BIP137 message (33 bytes, or 65 for legacy headers)."""
    return _btc.recover_message_key(_message_bytes(message), _decode_signature(signature))


_KIND_OF_PARSED = {"p2pkh": ["p2pkh"], "p2sh": ["p2sh-p2wpkh"], "p2wpkh": ["p2wpkh"]}


def verify_message(address: str, message: str | bytes, signature: str) -> bool:
    """True when ``signature`` recovers to a key whose address of ``address``'s kind is it.

    The kind comes from the address, not the header, so Electrum-style signatures with a
    P2PKH header over a segwit address verify too.
    """
    parsed = parse_address(address)
    kinds = _KIND_OF_PARSED.get(parsed.kind)
    if kinds is None:
        raise InvalidAddress(f"message signatures are defined for p2pkh, p2sh and p2wpkh, not {parsed.kind}")
    try:
        public_key = recover_message_public_key(message, signature)
    except InvalidSignature:
        return False
    return any(bitcoin_address(public_key, k, parsed.network) == address for k in kinds)


__all__ = [
    "BitcoinAddress",
    "address",
    "parse_address",
    "recover_message_public_key",
    "sign_message",
    "sign_sighash",
    "sign_taproot",
    "taproot_output_key",
    "validate_address",
    "verify_message",
    "verify_sighash",
    "verify_taproot",
]
