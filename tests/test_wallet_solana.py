"""skms.wallet.solana against solders (Solana's own Rust SDK, through Python)."""

from __future__ import annotations

import contextlib
import random

import pytest
from bip_utils import Base58Encoder, Bip39Languages, Bip39MnemonicEncoder
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from skms.errors import InvalidAddress, SKMSError
from skms.wallet import HDKey, Mnemonic, address_path, solana

MNEMONICS = 100
INDICES = 5


def test_derivation_matches_solders(rng: random.Random) -> None:
    checked = 0
    for i in range(MNEMONICS):
        entropy = rng.randbytes(16 if i % 2 else 32)
        phrase = Bip39MnemonicEncoder(Bip39Languages.ENGLISH).Encode(entropy).ToStr()
        passphrase = "" if i % 3 else f"pass {i}"
        seed = Mnemonic.from_phrase(phrase).to_seed(passphrase)
        root = HDKey.from_seed(seed, curve="ed25519")
        for index in range(INDICES):
            path = address_path("solana", index=index)
            assert path == f"m/44'/501'/{index}'/0'"
            key = root.derive(path)
            secret = key.private_key.expose_secret()
            # solders' own SLIP-10 derivation, and its key pair from the 32-byte seed
            derived = Keypair.from_seed_and_derivation_path(seed.expose_secret(), path)
            from_seed = Keypair.from_seed(secret)
            assert str(derived.pubkey()) == str(from_seed.pubkey())
            assert key.address("solana") == str(from_seed.pubkey())
            assert solana.address(key.public_key) == str(from_seed.pubkey())
            assert key.public_key == bytes(from_seed.pubkey())
            checked += 1
    assert checked == MNEMONICS * INDICES


def test_signatures_match_solders(rng: random.Random) -> None:
    checked = 0
    for _ in range(300):
        seed32 = rng.randbytes(32)
        message = rng.randbytes(rng.choice((0, 1, 64, 1232)))
        pair = Keypair.from_seed(seed32)
        expected = pair.sign_message(message)
        signature = solana.sign(seed32, message)
        assert signature == bytes(expected)
        assert Signature.from_bytes(signature).verify(pair.pubkey(), message)
        address = str(pair.pubkey())
        assert solana.verify(address, message, signature)
        assert solana.verify(bytes(pair.pubkey()), message, signature)
        assert not solana.verify(address, message + b"x", signature)
        tampered = bytes([signature[0] ^ 1]) + signature[1:]
        assert not solana.verify(address, message, tampered)
        checked += 1
    assert checked == 300


def test_sign_with_hd_key() -> None:
    root = HDKey.from_seed(bytes(range(64)), curve="ed25519")
    key = root.derive("m/44'/501'/3'/0'")
    pair = Keypair.from_seed(key.private_key.expose_secret())
    message = b"solana transaction message bytes"
    assert solana.sign(key, message) == bytes(pair.sign_message(message))
    assert solana.sign(key.private_key, message) == bytes(pair.sign_message(message))


def test_parse_address_round_trip(rng: random.Random) -> None:
    checked = 0
    for _ in range(200):
        raw = rng.randbytes(32)
        text = str(Pubkey.from_bytes(raw))
        assert solana.address(raw) == text
        assert solana.parse_address(text) == raw
        checked += 1
    # leading zero bytes are leading "1"s in base58
    zero = bytes(32)
    assert solana.address(zero) == "1" * 32
    assert solana.parse_address("1" * 32) == zero
    assert checked == 200


@pytest.mark.parametrize(
    "address",
    [
        "",
        "1" * 31,  # 31 bytes
        Base58Encoder.Encode(b"\x01" * 31),  # 31 bytes
        Base58Encoder.Encode(b"\x01" * 33),  # 33 bytes
        "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpq0",  # '0' is not base58
        "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqI",  # 'I' is not base58
        "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk ",
        "0x" + "00" * 32,
    ],
)
def test_invalid_solana_addresses(address: str) -> None:
    with pytest.raises(InvalidAddress):
        solana.parse_address(address)
    # verify on a bad address is False or a named error, never a crash
    with contextlib.suppress(SKMSError):
        assert solana.verify(address, b"m", bytes(64)) is False
