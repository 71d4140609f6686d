"""skms.wallet against bip_utils on random mnemonics (seeded by SKMS_TEST_SEED).

1,000 mnemonics, half 12 words and half 24, half with a random passphrase; for
each derivation scheme the account xprv/xpub (SLIP-132 versions for BIP49/84)
and the first receive address must be identical strings.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from typing import Any

import pytest
from bip_utils import (
    Bip39Languages,
    Bip39MnemonicEncoder,
    Bip39SeedGenerator,
    Bip44,
    Bip44Changes,
    Bip44Coins,
    Bip49,
    Bip49Coins,
    Bip84,
    Bip84Coins,
    Bip86,
    Bip86Coins,
)

from conftest import SEED
from skms.wallet import HDKey, Mnemonic, account_path, address_path

CASES = 1000
TESTNET_CASES = 200

# Characters for random passphrases: ASCII plus a few that NFKD changes.
PASSPHRASE_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !#$%&*+-./:;<=>?@éüñçÅΩ日本語カﬁ①"


@dataclass(frozen=True)
class Case:
    phrase: str
    passphrase: str
    seed: bytes


def _make_cases(count: int, salt: str) -> list[Case]:
    rng = random.Random(f"{SEED}-{salt}")
    cases = []
    for i in range(count):
        entropy = rng.randbytes(16 if i % 2 == 0 else 32)  # 12 or 24 words
        passphrase = ""
        if i % 4 >= 2:
            passphrase = "".join(rng.choice(PASSPHRASE_CHARS) for _ in range(rng.randint(1, 24)))
        phrase = Bip39MnemonicEncoder(Bip39Languages.ENGLISH).Encode(entropy).ToStr()
        seed = Bip39SeedGenerator(phrase).Generate(passphrase)
        cases.append(Case(phrase, passphrase, seed))
    return cases


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return _make_cases(CASES, "mainnet")


@pytest.fixture(scope="module")
def testnet_cases() -> list[Case]:
    return _make_cases(TESTNET_CASES, "testnet")


def test_case_mix(cases: list[Case]) -> None:
    words = [len(c.phrase.split()) for c in cases]
    assert words.count(12) == words.count(24) == CASES // 2
    assert sum(1 for c in cases if c.passphrase) == CASES // 2


def test_seeds_identical(cases: list[Case]) -> None:
    checked = 0
    for case in cases:
        mnemonic = Mnemonic.from_phrase(case.phrase)
        assert mnemonic.language == "english"
        assert mnemonic.phrase() == case.phrase
        assert mnemonic.to_seed(case.passphrase).expose_secret() == case.seed, case.phrase
        assert Mnemonic.from_entropy(mnemonic.entropy()).phrase() == case.phrase
        checked += 1
    assert checked == CASES


# (name, bip_utils class, coin, skms chain, kind, account path, SLIP-132 versions)
SCHEMES: list[tuple[str, Any, Any, str, str | None, str, tuple[str, str]]] = [
    (
        "bip44-btc-p2pkh",
        Bip44,
        Bip44Coins.BITCOIN,
        "bitcoin",
        "p2pkh",
        "m/44'/0'/0'",
        ("xprv", "xpub"),
    ),
    (
        "bip49-btc-p2sh-p2wpkh",
        Bip49,
        Bip49Coins.BITCOIN,
        "bitcoin",
        "p2sh-p2wpkh",
        "m/49'/0'/0'",
        ("yprv", "ypub"),
    ),
    (
        "bip84-btc-p2wpkh",
        Bip84,
        Bip84Coins.BITCOIN,
        "bitcoin",
        "p2wpkh",
        "m/84'/0'/0'",
        ("zprv", "zpub"),
    ),
    (
        "bip86-btc-p2tr",
        Bip86,
        Bip86Coins.BITCOIN,
        "bitcoin",
        "p2tr",
        "m/86'/0'/0'",
        ("xprv", "xpub"),
    ),
    ("bip44-eth", Bip44, Bip44Coins.ETHEREUM, "ethereum", None, "m/44'/60'/0'", ("xprv", "xpub")),
]

TESTNET_SCHEMES: list[tuple[str, Any, Any, str, str, tuple[str, str]]] = [
    (
        "bip44-tbtc-p2pkh",
        Bip44,
        Bip44Coins.BITCOIN_TESTNET,
        "p2pkh",
        "m/44'/1'/0'",
        ("tprv", "tpub"),
    ),
    (
        "bip49-tbtc-p2sh-p2wpkh",
        Bip49,
        Bip49Coins.BITCOIN_TESTNET,
        "p2sh-p2wpkh",
        "m/49'/1'/0'",
        ("uprv", "upub"),
    ),
    (
        "bip84-tbtc-p2wpkh",
        Bip84,
        Bip84Coins.BITCOIN_TESTNET,
        "p2wpkh",
        "m/84'/1'/0'",
        ("vprv", "vpub"),
    ),
    ("bip86-tbtc-p2tr", Bip86, Bip86Coins.BITCOIN_TESTNET, "p2tr", "m/86'/1'/0'", ("tprv", "tpub")),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("cls", "coin", "chain", "kind", "path", "versions"),
    [pytest.param(*scheme[1:], id=scheme[0]) for scheme in SCHEMES],
)
def test_secp256k1_schemes(
    cases: list[Case],
    cls: Any,
    coin: Any,
    chain: str,
    kind: str | None,
    path: str,
    versions: tuple[str, str],
) -> None:
    assert account_path(chain, 0, kind=kind) == path
    assert address_path(chain, 0, 0, 0, kind=kind) == path + "/0/0"
    prv_version, pub_version = versions
    checked = 0
    for case in cases:
        peer = cls.FromSeed(case.seed, coin).Purpose().Coin().Account(0)
        peer_address = peer.Change(Bip44Changes.CHAIN_EXT).AddressIndex(0).PublicKey().ToAddress()
        root = HDKey.from_seed(case.seed)
        account = root.derive(path)
        assert account.xprv(prv_version) == peer.PrivateKey().ToExtended(), case
        assert account.xpub(pub_version) == peer.PublicKey().ToExtended(), case
        assert root.derive(path + "/0/0").address(chain, kind=kind) == peer_address, case
        # the same address from the account's watch-only key, as a service would do
        watch = HDKey.from_extended(peer.PublicKey().ToExtended())
        assert watch.derive("0/0").address(chain, kind=kind) == peer_address, case
        checked += 1
    assert checked == CASES


@pytest.mark.slow
def test_solana_scheme(cases: list[Case]) -> None:
    # bip_utils Bip44Coins.SOLANA: account m/44'/501'/0', address at m/44'/501'/0'/0'
    assert account_path("solana", 0) == "m/44'/501'/0'"
    assert address_path("solana", index=0) == "m/44'/501'/0'/0'"
    checked = 0
    for case in cases:
        peer = Bip44.FromSeed(case.seed, Bip44Coins.SOLANA).Purpose().Coin().Account(0)
        peer_change = peer.Change(Bip44Changes.CHAIN_EXT)
        root = HDKey.from_seed(case.seed, curve="ed25519")
        account = root.derive("m/44'/501'/0'")
        assert account.xprv() == peer.PrivateKey().ToExtended(), case
        assert account.xpub() == peer.PublicKey().ToExtended(), case
        key = root.derive("m/44'/501'/0'/0'")
        assert key.address("solana") == peer_change.PublicKey().ToAddress(), case
        assert key.xprv() == peer_change.PrivateKey().ToExtended(), case
        checked += 1
    assert checked == CASES


@pytest.mark.slow
@pytest.mark.parametrize(
    ("cls", "coin", "kind", "path", "versions"),
    [pytest.param(*scheme[1:], id=scheme[0]) for scheme in TESTNET_SCHEMES],
)
def test_testnet_schemes(
    testnet_cases: list[Case],
    cls: Any,
    coin: Any,
    kind: str,
    path: str,
    versions: tuple[str, str],
) -> None:
    assert account_path("bitcoin", 0, kind=kind, network="testnet") == path
    prv_version, pub_version = versions
    checked = 0
    for case in testnet_cases:
        peer = cls.FromSeed(case.seed, coin).Purpose().Coin().Account(0)
        peer_change = peer.Change(Bip44Changes.CHAIN_INT)  # change addresses this time
        peer_address = peer_change.AddressIndex(3).PublicKey().ToAddress()
        account = HDKey.from_seed(case.seed).derive(path)
        assert account.xprv(prv_version) == peer.PrivateKey().ToExtended(), case
        assert account.xpub(pub_version) == peer.PublicKey().ToExtended(), case
        key = account.derive("1/3")
        assert key.address("bitcoin", kind=kind, network="testnet") == peer_address, case
        watch = HDKey.from_extended(peer.PublicKey().ToExtended())
        assert watch.network == "testnet"
        assert watch.derive("1/3").address("bitcoin", kind=kind) == peer_address, case
        checked += 1
    assert checked == TESTNET_CASES


BIP_UTILS_LANGUAGES = {
    "english": Bip39Languages.ENGLISH,
    "chinese_simplified": Bip39Languages.CHINESE_SIMPLIFIED,
    "chinese_traditional": Bip39Languages.CHINESE_TRADITIONAL,
    "czech": Bip39Languages.CZECH,
    "french": Bip39Languages.FRENCH,
    "italian": Bip39Languages.ITALIAN,
    "korean": Bip39Languages.KOREAN,
    "portuguese": Bip39Languages.PORTUGUESE,
    "spanish": Bip39Languages.SPANISH,
}


@pytest.mark.parametrize("language", sorted(BIP_UTILS_LANGUAGES))
def test_languages_against_bip_utils(language: str, rng: random.Random) -> None:
    # bip_utils has every official list but Japanese (covered by the vectors)
    encoder = Bip39MnemonicEncoder(BIP_UTILS_LANGUAGES[language])
    checked = 0
    for words in (12, 15, 18, 21, 24):
        for _ in range(20):
            entropy = rng.randbytes(words * 4 // 3)
            expected = unicodedata.normalize("NFKD", encoder.Encode(entropy).ToStr())
            mnemonic = Mnemonic.from_entropy(entropy, language)
            assert unicodedata.normalize("NFKD", mnemonic.phrase()) == expected
            assert mnemonic.word_count == words
            parsed = Mnemonic.from_phrase(expected, language)
            assert parsed.entropy().expose_secret() == entropy
            seed = Bip39SeedGenerator(expected, BIP_UTILS_LANGUAGES[language]).Generate("pw")
            assert parsed.to_seed("pw").expose_secret() == seed
            checked += 1
    assert checked == 100
