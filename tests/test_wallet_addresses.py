"""Bitcoin address encoding, parsing and validation (skms.wallet.bitcoin).

Round trips for every kind on mainnet and testnet against bip_utils' encoders,
the BIP350 segwit address vectors, and hand-built bad addresses whose error
message must name the problem.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

import coincurve
import pytest
from bip_utils import (
    Base58Encoder,
    P2PKHAddrEncoder,
    P2SHAddrEncoder,
    P2TRAddrEncoder,
    P2WPKHAddrEncoder,
)

from skms.errors import InvalidAddress, SKMSError
from skms.wallet import bitcoin

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
KINDS = ("p2pkh", "p2sh-p2wpkh", "p2wpkh", "p2tr")
NETWORKS = ("mainnet", "testnet")
BASE58_VERSIONS = {
    ("p2pkh", "mainnet"): b"\x00",
    ("p2pkh", "testnet"): b"\x6f",
    ("p2sh-p2wpkh", "mainnet"): b"\x05",
    ("p2sh-p2wpkh", "testnet"): b"\xc4",
}
HRP = {"mainnet": "bc", "testnet": "tb"}

# --------------------------------------------------------------------------- bech32 (BIP173/350)

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
BECH32_CONST = 1
BECH32M_CONST = 0x2BC830A3


def _polymod(values: list[int]) -> int:
    generator = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            chk ^= generator[i] if (top >> i) & 1 else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convertbits(data: bytes, frombits: int, tobits: int) -> list[int]:
    acc = bits = 0
    out = []
    maxv = (1 << tobits) - 1
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if bits:
        out.append((acc << (tobits - bits)) & maxv)
    return out


def _bech32_encode(hrp: str, version: int, program: bytes, const: int) -> str:
    """Encodes any (version, program) with either checksum constant, valid or not."""
    data = [version, *_convertbits(program, 8, 5)]
    polymod = _polymod([*_hrp_expand(hrp), *data, 0, 0, 0, 0, 0, 0]) ^ const
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[d] for d in data + checksum)


def _segwit(hrp: str, version: int, program: bytes) -> str:
    return _bech32_encode(hrp, version, program, BECH32_CONST if version == 0 else BECH32M_CONST)


def _hash160(data: bytes) -> bytes:
    return hashlib.new("ripemd160", hashlib.sha256(data).digest()).digest()


def _public(rng: random.Random) -> bytes:
    secret = rng.randrange(1, N).to_bytes(32, "big")
    return coincurve.PrivateKey(secret).public_key.format(compressed=True)


def _expected(public: bytes, kind: str, network: str) -> tuple[str, bytes]:
    """(address, program) from bip_utils and hashlib."""
    if kind == "p2pkh":
        version = BASE58_VERSIONS[(kind, network)]
        return P2PKHAddrEncoder.EncodeKey(public, net_ver=version), _hash160(public)
    if kind == "p2sh-p2wpkh":
        version = BASE58_VERSIONS[(kind, network)]
        redeem = b"\x00\x14" + _hash160(public)
        return P2SHAddrEncoder.EncodeKey(public, net_ver=version), _hash160(redeem)
    if kind == "p2wpkh":
        return P2WPKHAddrEncoder.EncodeKey(public, hrp=HRP[network], wit_ver=0), _hash160(public)
    address = P2TRAddrEncoder.EncodeKey(public, hrp=HRP[network])
    return address, bitcoin.taproot_output_key(public[1:])


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("kind", KINDS)
def test_round_trip(kind: str, network: str, rng: random.Random) -> None:
    other = "testnet" if network == "mainnet" else "mainnet"
    checked = 0
    for _ in range(100):
        public = _public(rng)
        expected_address, program = _expected(public, kind, network)
        address = bitcoin.address(public, kind, network)
        assert address == expected_address
        parsed = bitcoin.parse_address(address)
        parsed_kind = "p2sh" if kind == "p2sh-p2wpkh" else kind  # the script is not visible
        assert (parsed.kind, parsed.network, parsed.program) == (parsed_kind, network, program)
        bitcoin.validate_address(address)
        bitcoin.validate_address(address, network=network)
        with pytest.raises(InvalidAddress) as info:
            bitcoin.validate_address(address, network=other)
        assert "network" in str(info.value).lower()
        if kind in ("p2wpkh", "p2tr"):
            upper = address.upper()  # BIP173: all-uppercase is valid too
            assert bitcoin.parse_address(upper).program == program
        checked += 1
    assert checked == 100


BIP350_VALID = [
    (
        "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
        "p2wpkh",
        "mainnet",
        "751e76e8199196d454941c45d1b3a323f1433bd6",
    ),
    (
        "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
        "p2wsh",
        "testnet",
        "1863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
    ),
    (
        "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
        "witness-v1",
        "mainnet",
        "751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6",
    ),
    ("BC1SW50QGDZ25J", "witness-v16", "mainnet", "751e"),
    (
        "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs",
        "witness-v2",
        "mainnet",
        "751e76e8199196d454941c45d1b3a323",
    ),
    (
        "tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy",
        "p2wsh",
        "testnet",
        "000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
    ),
    (
        "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
        "p2tr",
        "testnet",
        "000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
    ),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        "p2tr",
        "mainnet",
        "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
    ),
]

# BIP350 "invalid segwit addresses", every one of them
BIP350_INVALID = [
    "tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
    "tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf",
    "BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL",
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",
    "tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47",
    "bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4",
    "BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R",
    "bc1pw5dgrnzv",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav",
    "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P",
    "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf",
    "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j",
    "bc1gmk9yu",
]


def test_bip350_valid() -> None:
    checked = 0
    for address, kind, network, program in BIP350_VALID:
        parsed = bitcoin.parse_address(address)
        assert (parsed.kind, parsed.network, parsed.program.hex()) == (kind, network, program)
        checked += 1
    assert checked == 8


def test_bip350_invalid() -> None:
    checked = 0
    for address in BIP350_INVALID:
        with pytest.raises(InvalidAddress) as info:
            bitcoin.parse_address(address)
        with pytest.raises(InvalidAddress):
            bitcoin.validate_address(address)
        print(f"{address}: {info.value}")
        checked += 1
    assert checked == 15


# --------------------------------------------------------------------------- named errors


def _flip_char(address: str, position: int, alphabet: str) -> str:
    position %= len(address)
    current = address[position]
    replacement = next(c for c in alphabet if c != current)
    return address[:position] + replacement + address[position + 1 :]


BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
PUBLIC = coincurve.PrivateKey((7).to_bytes(32, "big")).public_key.format()
H160 = _hash160(PUBLIC)
OUTPUT_KEY = bytes.fromhex("a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c")


def _bad_addresses() -> list[tuple[str, str, tuple[str, ...]]]:
    """(label, address, keywords: at least one must appear in the error message)."""
    p2pkh = P2PKHAddrEncoder.EncodeKey(PUBLIC, net_ver=b"\x00")
    p2sh = P2SHAddrEncoder.EncodeKey(PUBLIC, net_ver=b"\x05")
    p2wpkh = _segwit("bc", 0, H160)
    p2tr = _segwit("bc", 1, OUTPUT_KEY)
    checksum = ("checksum",)
    mixup = ("bech32m", "bech32")
    length = ("length", "bytes", "size")
    unknown = ("prefix", "version", "unknown", "hrp", "unsupported")
    return [
        ("p2pkh bad checksum", _flip_char(p2pkh, -1, BASE58_ALPHABET), checksum),
        ("p2pkh bad checksum (middle)", _flip_char(p2pkh, 10, BASE58_ALPHABET), checksum),
        ("p2sh bad checksum", _flip_char(p2sh, -1, BASE58_ALPHABET), checksum),
        ("p2wpkh bad checksum", _flip_char(p2wpkh, -1, CHARSET), checksum),
        ("p2wpkh bad checksum (data)", _flip_char(p2wpkh, 8, CHARSET), checksum),
        ("p2tr bad checksum", _flip_char(p2tr, 20, CHARSET), checksum),
        ("v0 with bech32m", _bech32_encode("bc", 0, H160, BECH32M_CONST), mixup),
        ("v1 with bech32", _bech32_encode("bc", 1, OUTPUT_KEY, BECH32_CONST), mixup),
        ("testnet v0 with bech32m", _bech32_encode("tb", 0, H160, BECH32M_CONST), mixup),
        ("v0 program of 19 bytes", _segwit("bc", 0, H160[:19]), length),
        ("v0 program of 21 bytes", _segwit("bc", 0, H160 + b"\x00"), length),
        ("v1 program of 1 byte", _segwit("bc", 1, b"\x01"), length),
        ("v1 program of 41 bytes", _segwit("bc", 1, OUTPUT_KEY + bytes(9)), length),
        ("base58 payload of 19 bytes", Base58Encoder.CheckEncode(b"\x00" + H160[:19]), length),
        ("base58 payload of 21 bytes", Base58Encoder.CheckEncode(b"\x00" + H160 + b"\x00"), length),
        ("litecoin P2PKH version 0x30", Base58Encoder.CheckEncode(b"\x30" + H160), unknown),
        ("dogecoin P2PKH version 0x1e", Base58Encoder.CheckEncode(b"\x1e" + H160), unknown),
        ("litecoin hrp", _segwit("ltc", 0, H160), unknown),
        ("regtest-like unknown hrp", _segwit("xy", 1, OUTPUT_KEY), unknown),
        ("witness version 17", _bech32_encode("bc", 17, H160, BECH32M_CONST), unknown),
    ]


BAD_ADDRESSES = _bad_addresses()


def _bad_address_param(label: str, address: str, keywords: tuple[str, ...]) -> Any:
    return pytest.param(address, keywords, id=label)


@pytest.mark.parametrize(("address", "keywords"), [_bad_address_param(*b) for b in BAD_ADDRESSES])
def test_bad_address_is_named(address: str, keywords: tuple[str, ...]) -> None:
    with pytest.raises(InvalidAddress) as info:
        bitcoin.parse_address(address)
    message = str(info.value).lower()
    assert any(k in message for k in keywords), message
    with pytest.raises(InvalidAddress):
        bitcoin.validate_address(address)


def test_bad_address_count() -> None:
    assert len(BAD_ADDRESSES) == 20


@pytest.mark.parametrize(
    "address",
    [
        "",
        " ",
        "1",
        "bc1",
        "bc1q",
        "0x52908400098527886E0F7030069857D2E4169EE7",  # Ethereum
        "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk",  # Solana
        "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu ",  # trailing space
        "bc1qCR8te4kr609gcawutmrza0j4xv80jy8z306fyu",  # mixed case
        "1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeab0",  # '0' is not base58
        "\x00" * 30,
        "bc1q" + "q" * 200,
    ],
)
def test_garbage_addresses(address: str) -> None:
    with pytest.raises(InvalidAddress):
        bitcoin.parse_address(address)
    with pytest.raises(InvalidAddress):
        bitcoin.validate_address(address)


def test_address_rejects_bad_public_keys() -> None:
    for public in (b"", b"\x05" + PUBLIC[1:], b"\x02" + b"\xff" * 32):
        for kind in KINDS:
            with pytest.raises(SKMSError):
                bitcoin.address(public, kind)
    with pytest.raises(SKMSError):
        bitcoin.address(PUBLIC, "p2wsh")
    with pytest.raises(SKMSError):
        bitcoin.address(PUBLIC, "p2wpkh", "regtest-ish")
