"""HD wallet benchmarks (issue 3): skms.wallet against bip_utils and hashlib, same run.

Each test records the items it processes per call in ``extra_info["items"]``;
``benches/ratios.py`` pairs ``test_<group>__skms`` with its peers per item.
bip_utils is slow, so its loops run on fewer items than skms' (1,000 instead of
10,000); the per-item rates stay comparable.
"""

from __future__ import annotations

import hashlib
import random
import unicodedata
from typing import Any

import pytest
from bip_utils import (
    Bip32Secp256k1,
    Bip44,
    Bip44Changes,
    Bip44Coins,
    Bip84,
    Bip84Coins,
    P2PKHAddrEncoder,
)

from skms.wallet import HDKey, Mnemonic, derive_addresses

SKMS_ITEMS = 10_000
PEER_ITEMS = 1_000
DERIVE_ITEMS = 1_000  # full-path derivations, one HDKey.derive call each

PHRASE = Mnemonic.from_entropy(random.Random(2024).randbytes(32)).phrase()
PASSPHRASE = "bench passphrase"
SEED = Mnemonic.from_phrase(PHRASE).to_seed(PASSPHRASE).expose_secret()
ROOT = HDKey.from_seed(SEED)
BIP_UTILS_ROOT = Bip32Secp256k1.FromSeed(SEED)


def _skms_account(path: str) -> HDKey:
    """The account's xpub as a deposit service holds it: watch-only, imported."""
    return HDKey.from_extended(ROOT.derive(path).xpub())


def _run(benchmark: Any, items: int, rounds: int, fn: Any, *args: Any) -> Any:
    benchmark.extra_info["items"] = items
    return benchmark.pedantic(fn, args=args, rounds=rounds, iterations=1, warmup_rounds=1)


def _target(benchmark: Any, ratio: float, peer: str, words: str) -> None:
    """Issue 3's goal for this group, checked by benches/ratios.py."""
    benchmark.extra_info.update(target_ratio=ratio, target_peer=peer, target=words)


TEN_X = "issue 3: at least 10x bip_utils"


# --------------------------------------------------------------------------- receive addresses


@pytest.mark.benchmark(group="wallet_eth_receive")
def test_wallet_eth_receive__skms(benchmark: Any) -> None:
    _target(benchmark, 10.0, "bip_utils", TEN_X)
    account = _skms_account("m/44'/60'/0'")
    result = _run(benchmark, SKMS_ITEMS, 5, derive_addresses, account, "0", 0, SKMS_ITEMS, "ethereum")
    assert len(result) == SKMS_ITEMS


def _bip_utils_receive(account: Any, count: int) -> list[str]:
    change = account.Change(Bip44Changes.CHAIN_EXT)
    return [change.AddressIndex(i).PublicKey().ToAddress() for i in range(count)]


@pytest.mark.benchmark(group="wallet_eth_receive")
def test_wallet_eth_receive__bip_utils(benchmark: Any) -> None:
    xpub = ROOT.derive("m/44'/60'/0'").xpub()
    account = Bip44.FromExtendedKey(xpub, Bip44Coins.ETHEREUM)
    result = _run(benchmark, PEER_ITEMS, 3, _bip_utils_receive, account, PEER_ITEMS)
    assert result[:3] == [a for _, a in derive_addresses(_skms_account("m/44'/60'/0'"), "0", 0, 3, "ethereum")]


@pytest.mark.benchmark(group="wallet_p2wpkh_receive")
def test_wallet_p2wpkh_receive__skms(benchmark: Any) -> None:
    _target(benchmark, 10.0, "bip_utils", TEN_X)
    account = _skms_account("m/84'/0'/0'")
    result = _run(benchmark, SKMS_ITEMS, 5, derive_addresses, account, "0", 0, SKMS_ITEMS, "bitcoin", "p2wpkh")
    assert len(result) == SKMS_ITEMS


@pytest.mark.benchmark(group="wallet_p2wpkh_receive")
def test_wallet_p2wpkh_receive__bip_utils(benchmark: Any) -> None:
    zpub = ROOT.derive("m/84'/0'/0'").xpub("zpub")
    account = Bip84.FromExtendedKey(zpub, Bip84Coins.BITCOIN)
    result = _run(benchmark, PEER_ITEMS, 3, _bip_utils_receive, account, PEER_ITEMS)
    expected = derive_addresses(_skms_account("m/84'/0'/0'"), "0", 0, 3, "bitcoin", "p2wpkh")
    assert result[:3] == [a for _, a in expected]


# ---------------------------------------------------------------- full paths from the root


# HDKey.derive keeps the parent nodes of recent paths: along the receive chain
# (WARM) it takes one child step per call. In COLD every path has another parent
# (another account), so each call costs a whole path; that group has no target.
WARM = "m/44'/0'/0'/0/{i}"
COLD = "m/44'/0'/{i}'/0/0"


def _skms_derive_each(template: str, count: int) -> list[HDKey]:
    return [ROOT.derive(template.format(i=i)) for i in range(count)]


def _bip_utils_derive_each(template: str, count: int) -> list[Any]:
    return [BIP_UTILS_ROOT.DerivePath(template.format(i=i)) for i in range(count)]


def _check_seventh(template: str, result: list[HDKey]) -> None:
    expected = BIP_UTILS_ROOT.DerivePath(template.format(i=7)).PublicKey().RawCompressed().ToBytes()
    assert result[7].public_key == bytes(expected)


@pytest.mark.benchmark(group="wallet_full_path_derive")
def test_wallet_full_path_derive__skms(benchmark: Any) -> None:
    _target(benchmark, 10.0, "bip_utils", TEN_X)
    _check_seventh(WARM, _run(benchmark, DERIVE_ITEMS, 5, _skms_derive_each, WARM, DERIVE_ITEMS))


@pytest.mark.benchmark(group="wallet_full_path_derive")
def test_wallet_full_path_derive__bip_utils(benchmark: Any) -> None:
    assert len(_run(benchmark, PEER_ITEMS, 3, _bip_utils_derive_each, WARM, PEER_ITEMS)) == PEER_ITEMS


@pytest.mark.benchmark(group="wallet_full_path_derive_cold")
def test_wallet_full_path_derive_cold__skms(benchmark: Any) -> None:
    _check_seventh(COLD, _run(benchmark, DERIVE_ITEMS, 5, _skms_derive_each, COLD, DERIVE_ITEMS))


@pytest.mark.benchmark(group="wallet_full_path_derive_cold")
def test_wallet_full_path_derive_cold__bip_utils(benchmark: Any) -> None:
    assert len(_run(benchmark, PEER_ITEMS, 3, _bip_utils_derive_each, COLD, PEER_ITEMS)) == PEER_ITEMS


def _bip_utils_p2pkh_each(count: int) -> list[str]:
    addresses = []
    for i in range(count):
        node = BIP_UTILS_ROOT.DerivePath(f"m/44'/0'/0'/0/{i}")
        addresses.append(P2PKHAddrEncoder.EncodeKey(node.PublicKey().KeyObject(), net_ver=b"\x00"))
    return addresses


@pytest.mark.benchmark(group="wallet_full_path_addresses")
def test_wallet_full_path_addresses__skms(benchmark: Any) -> None:
    _target(benchmark, 10.0, "bip_utils", TEN_X)
    result = _run(
        benchmark,
        SKMS_ITEMS,
        5,
        derive_addresses,
        ROOT,
        "m/44'/0'/0'/0",
        0,
        SKMS_ITEMS,
        "bitcoin",
        "p2pkh",
    )
    assert [a for _, a in result[:3]] == _bip_utils_p2pkh_each(3)


@pytest.mark.benchmark(group="wallet_full_path_addresses")
def test_wallet_full_path_addresses__bip_utils(benchmark: Any) -> None:
    result = _run(benchmark, PEER_ITEMS, 3, _bip_utils_p2pkh_each, PEER_ITEMS)
    assert len(result) == PEER_ITEMS


# --------------------------------------------------------------------------- BIP39 seed


@pytest.mark.benchmark(group="wallet_mnemonic_to_seed")
def test_wallet_mnemonic_to_seed__skms(benchmark: Any) -> None:
    _target(benchmark, 1.0, "hashlib", "issue 3: no slower than hashlib.pbkdf2_hmac")
    mnemonic = Mnemonic.from_phrase(PHRASE)
    result = _run(benchmark, 1, 50, mnemonic.to_seed, PASSPHRASE)
    assert result.expose_secret() == SEED


def _hashlib_seed(phrase: str, passphrase: str) -> bytes:
    password = unicodedata.normalize("NFKD", phrase).encode()
    salt = ("mnemonic" + unicodedata.normalize("NFKD", passphrase)).encode()
    return hashlib.pbkdf2_hmac("sha512", password, salt, 2048)


@pytest.mark.benchmark(group="wallet_mnemonic_to_seed")
def test_wallet_mnemonic_to_seed__hashlib(benchmark: Any) -> None:
    result = _run(benchmark, 1, 50, _hashlib_seed, PHRASE, PASSPHRASE)
    assert result == SEED
