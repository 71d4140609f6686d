"""Bad input for every skms.wallet parser, derivation properties, and secret hygiene.

Every bad input must raise a named :class:`skms.errors.SKMSError` subclass,
never a crash or a bare ``ValueError``/``TypeError``/``PanicException``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skms import SecretBytes
from skms.errors import (
    InvalidExtendedKey,
    InvalidInput,
    InvalidMnemonic,
    InvalidPath,
    SKMSError,
    UnsupportedOperation,
)
from skms.wallet import HDKey, Mnemonic, bitcoin, ethereum, solana

ABANDON = " ".join(["abandon"] * 11 + ["about"])
SEED = bytes(range(64))
ROOT = HDKey.from_seed(SEED)
ED_ROOT = HDKey.from_seed(SEED, curve="ed25519")
ACCOUNT = ROOT.derive("m/84'/0'/0'")
HARDENED = 2**31

# --------------------------------------------------------------------------- mnemonics


def test_unknown_word_position() -> None:
    words = ABANDON.split()
    words[2] = "foo"
    phrase = " ".join(words)
    for language in (None, "english"):
        with pytest.raises(InvalidMnemonic) as info:
            Mnemonic.validate(phrase, language)
        assert re.search(r"\bword 3\b", str(info.value)), str(info.value)
        with pytest.raises(InvalidMnemonic):
            Mnemonic.from_phrase(phrase, language)
    words[2] = "abandon"
    words[11] = "aboutt"
    with pytest.raises(InvalidMnemonic) as info:
        Mnemonic.validate(" ".join(words), "english")
    assert re.search(r"\bword 12\b", str(info.value)), str(info.value)


def test_unknown_word_is_not_echoed() -> None:
    # The position names the problem; the word itself may be a typo of a secret word.
    words = ABANDON.split()
    words[2] = "fooqux"
    with pytest.raises(InvalidMnemonic) as info:
        Mnemonic.validate(" ".join(words), "english")
    assert "word 3" in str(info.value) and "fooqux" not in str(info.value), str(info.value)


def test_bad_checksum() -> None:
    phrase = " ".join(["abandon"] * 12)
    with pytest.raises(InvalidMnemonic) as info:
        Mnemonic.validate(phrase)
    assert "checksum" in str(info.value).lower()
    with pytest.raises(InvalidMnemonic):
        Mnemonic.from_phrase(phrase, "english")


@pytest.mark.parametrize("count", [0, 1, 3, 11, 13, 23, 25, 48])
def test_wrong_word_count(count: int) -> None:
    phrase = " ".join(["abandon"] * count)
    with pytest.raises(InvalidMnemonic) as info:
        Mnemonic.validate(phrase, "english")
    if count:
        assert re.search(rf"\b{count}\b", str(info.value)), str(info.value)
    with pytest.raises(InvalidMnemonic):
        Mnemonic.from_phrase(phrase, "english")


def test_wrong_language_and_mixed_languages() -> None:
    with pytest.raises(InvalidMnemonic):
        Mnemonic.validate(ABANDON, "french")  # "about" is not French
    with pytest.raises(InvalidInput):
        Mnemonic.from_phrase(ABANDON, "klingon")
    with pytest.raises(InvalidInput):
        Mnemonic.from_entropy(bytes(16), "russian")
    with pytest.raises(InvalidMnemonic):
        Mnemonic.detect_language("abandon abandon zzzz")


def test_detect_language_of_nothing() -> None:
    with pytest.raises(InvalidMnemonic):
        Mnemonic.detect_language("")


@pytest.mark.parametrize("size", [0, 1, 15, 17, 31, 33, 64])
def test_bad_entropy_length(size: int) -> None:
    with pytest.raises(InvalidInput):
        Mnemonic.from_entropy(bytes(size))


@pytest.mark.parametrize("words", [0, 1, 11, 13, 25, -12])
def test_bad_generate_word_count(words: int) -> None:
    with pytest.raises(InvalidInput):
        Mnemonic.generate(words)


def test_generate() -> None:
    seen = set()
    for words in (12, 15, 18, 21, 24):
        for language in Mnemonic.LANGUAGES:
            mnemonic = Mnemonic.generate(words, language)
            assert mnemonic.word_count == words
            assert mnemonic.language == language
            Mnemonic.validate(mnemonic.phrase(), language)
            seen.add(mnemonic.entropy().expose_secret())
    assert len(seen) == 50  # the OS CSPRNG, not a constant
    assert Mnemonic.generate().word_count == 24


def test_phrase_whitespace_is_normalized() -> None:
    expected = Mnemonic.from_phrase(ABANDON).to_seed().expose_secret()
    for variant in (
        "  " + ABANDON + "\n",
        ABANDON.replace(" ", "\t"),
        ABANDON.replace(" ", "\u3000"),
    ):
        assert Mnemonic.from_phrase(variant).to_seed().expose_secret() == expected


@pytest.mark.parametrize(
    "call",
    [
        lambda: Mnemonic.generate("12"),  # type: ignore[arg-type]
        lambda: ROOT.derive_child("0"),  # type: ignore[arg-type]
    ],
    ids=["generate", "derive_child"],
)
def test_wrong_int_types_are_named_errors(call: Callable[[], Any]) -> None:
    with pytest.raises(SKMSError):
        call()


def test_wrong_types_are_named_errors() -> None:
    calls: list[Callable[[], Any]] = [
        lambda: Mnemonic.from_phrase(b"abandon"),  # type: ignore[arg-type]
        lambda: Mnemonic.from_phrase(None),  # type: ignore[arg-type]
        lambda: Mnemonic.from_entropy("00" * 16),  # type: ignore[arg-type]
        lambda: HDKey.from_seed("00" * 32),  # type: ignore[arg-type]
        lambda: HDKey.from_extended(b"xpub"),  # type: ignore[arg-type]
        lambda: ROOT.derive(44),  # type: ignore[arg-type]
        lambda: bitcoin.parse_address(None),  # type: ignore[arg-type]
        lambda: ethereum.validate_address(b"0x00"),  # type: ignore[arg-type]
        lambda: solana.parse_address(1),  # type: ignore[arg-type]
        lambda: ethereum.personal_sign("key", b"m"),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(SKMSError):
            call()


# --------------------------------------------------------------------------- paths

BAD_PATHS = [
    "m/x",
    "m/2147483648",  # 2**31 is not a non-hardened index
    "m/2147483648'",  # nor a hardened one
    "m/4294967296",
    "m//1",
    "m/1''",
    "m/1'h",
    "m/-1",
    "m/+1",
    "m/1/",
    "m/0x1",
    "m/1.5",
    "m/１",
    "mm/1",
    "/1",
    "m/",
    "x",
    "m/" + "9" * 40,
]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_bad_path(path: str) -> None:
    with pytest.raises(InvalidPath) as info:
        ROOT.derive(path)
    assert str(info.value)


def test_absolute_path_on_a_derived_key() -> None:
    with pytest.raises(InvalidPath):
        ACCOUNT.derive("m/0/0")
    with pytest.raises(InvalidPath):
        HDKey.from_extended(ACCOUNT.xpub()).derive("m/0")


def test_hardened_from_public_key() -> None:
    watch = ACCOUNT.neuter()
    for path in ("0'", "0h", "0H", "0/1'"):
        with pytest.raises(UnsupportedOperation) as info:
            watch.derive(path)
        assert "harden" in str(info.value).lower()
    with pytest.raises(UnsupportedOperation):
        watch.derive_child(HARDENED)
    with pytest.raises(UnsupportedOperation):
        HDKey.from_extended(ACCOUNT.xpub()).derive("1'")


def test_non_hardened_ed25519() -> None:
    for path in ("m/0", "m/44'/501'/0'/0", "m/0'/1"):
        with pytest.raises(UnsupportedOperation):
            ED_ROOT.derive(path)
    with pytest.raises(UnsupportedOperation):
        ED_ROOT.derive_child(0)


@pytest.mark.parametrize(
    "index",
    [
        -1,
        2**32,
        2**64,
    ],
)
def test_bad_child_index(index: int) -> None:
    with pytest.raises(InvalidInput):
        ROOT.derive_child(index)


def test_hardened_notations_agree() -> None:
    expected = ROOT.derive("m/44'/0'/0'/0/1").xprv()
    for path in ("m/44h/0h/0h/0/1", "m/44H/0H/0H/0/1", "m/44'/0h/0H/0/1"):
        assert ROOT.derive(path).xprv() == expected
    assert ROOT.derive("m/44'/0'/0'").derive("0/1").xprv() == expected
    assert ROOT.derive("m").xprv() == ROOT.xprv()


def test_public_only_keys() -> None:
    watch = ACCOUNT.neuter()
    assert not watch.is_private
    with pytest.raises(UnsupportedOperation):
        _ = watch.private_key
    with pytest.raises(UnsupportedOperation):
        watch.xprv()
    with pytest.raises(SKMSError):
        ethereum.personal_sign(watch, b"m")
    with pytest.raises(SKMSError):
        bitcoin.sign_sighash(watch, bytes(32))


# ------------------------------------------------------------------ extended keys and seeds

XPRV = ROOT.xprv()
BAD_EXTENDED = [
    "",
    "xpub",
    XPRV[:-1],  # truncated
    XPRV + "ii",  # too long
    XPRV[:-1] + "0",  # '0' is not base58
    XPRV[:-1] + ("A" if XPRV[-1] != "A" else "B"),  # bad checksum
    "0x" + "00" * 78,
    "1" * 111,
    "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
]


@pytest.mark.parametrize("text", BAD_EXTENDED)
def test_bad_extended_key(text: str) -> None:
    with pytest.raises(InvalidExtendedKey) as info:
        HDKey.from_extended(text)
    assert str(info.value)


def test_extended_key_of_the_wrong_curve() -> None:
    ed_xprv = ED_ROOT.derive("m/0'").xprv()
    with pytest.raises(SKMSError):
        HDKey.from_extended(ed_xprv, curve="curve25519")  # not a supported curve
    with pytest.raises(SKMSError):
        HDKey.from_extended(ROOT.xpub(), curve="ed25519")  # ed25519 key data is 0x00 || key


@pytest.mark.parametrize("size", [0, 1, 15, 65, 200])
def test_bad_seed_length(size: int) -> None:
    with pytest.raises(InvalidInput):
        HDKey.from_seed(bytes(size))


def test_bad_curve_and_versions() -> None:
    with pytest.raises(InvalidInput):
        HDKey.from_seed(SEED, curve="curve25519")
    with pytest.raises(InvalidInput):
        HDKey.from_seed(SEED, curve="secp256r2")
    for version in ("xpub", "foo", "", "Ltpv"):
        with pytest.raises(InvalidInput):
            ROOT.xprv(version)
    for version in ("xprv", "foo", ""):
        with pytest.raises(InvalidInput):
            ROOT.xpub(version)


def test_address_on_the_wrong_curve_or_chain() -> None:
    with pytest.raises(SKMSError):
        ED_ROOT.derive("m/44'/501'/0'/0'").address("bitcoin")
    with pytest.raises(SKMSError):
        ED_ROOT.derive("m/44'/501'/0'/0'").address("ethereum")
    with pytest.raises(SKMSError):
        ROOT.derive("m/44'/60'/0'/0/0").address("solana")
    with pytest.raises(InvalidInput):
        ROOT.address("dogecoin")
    with pytest.raises(InvalidInput):
        ROOT.address("bitcoin", kind="p2wsh-p2sh")
    with pytest.raises(InvalidInput):
        ROOT.address("bitcoin", network="signet-ish")


def test_account_path_bad_input() -> None:
    from skms.wallet import account_path, address_path

    with pytest.raises(InvalidInput):
        account_path("dogecoin")
    with pytest.raises(InvalidInput):
        account_path("bitcoin", -1)
    with pytest.raises(InvalidInput):
        account_path("bitcoin", HARDENED)
    with pytest.raises(InvalidInput):
        account_path("bitcoin", kind="p2wsh")
    with pytest.raises(InvalidInput):
        address_path("solana", account=1)
    with pytest.raises(InvalidInput):
        address_path("solana", change=1)
    assert account_path("bitcoin") == "m/84'/0'/0'"
    assert account_path("bitcoin", 3, kind="p2tr", network="testnet") == "m/86'/1'/3'"
    assert account_path("ethereum", 2) == "m/44'/60'/2'"
    assert account_path("solana", 4) == "m/44'/501'/4'"
    assert address_path("ethereum", 1, 0, 9) == "m/44'/60'/1'/0/9"
    assert address_path("bitcoin", 0, 1, 5, kind="p2pkh") == "m/44'/0'/0'/1/5"
    assert address_path("solana", index=7) == "m/44'/501'/7'/0'"


# --------------------------------------------------------------------------- secrets


def test_hdkey_repr_has_no_key_material() -> None:
    for node in (ROOT, ACCOUNT, ACCOUNT.neuter(), ED_ROOT.derive("m/44'/501'/0'/0'")):
        text = repr(node) + str(node)
        forbidden = [node.chain_code.hex(), node.public_key.hex(), node.xpub()]
        if node.is_private:
            forbidden += [node.private_key.expose_secret().hex(), node.xprv()]
        for secret in forbidden:
            assert secret not in text
            assert secret[:16] not in text
        assert node.fingerprint.hex() in text
        assert ("private" if node.is_private else "public") in text
    assert "m/84'/0'/0'" in repr(ACCOUNT)
    assert repr(ROOT).startswith("HDKey(secp256k1")


def test_mnemonic_repr_has_no_words() -> None:
    mnemonic = Mnemonic.from_phrase(ABANDON)
    assert repr(mnemonic) == "Mnemonic(<12 words, english>)"
    assert "abandon" not in str(mnemonic)
    generated = Mnemonic.generate(24, "japanese")
    text = repr(generated) + str(generated)
    assert all(word not in text for word in generated.phrase().split("\u3000"))
    assert "24 words" in text


def test_secret_types() -> None:
    mnemonic = Mnemonic.from_phrase(ABANDON)
    assert isinstance(mnemonic.entropy(), SecretBytes)
    assert isinstance(mnemonic.to_seed(), SecretBytes)
    assert isinstance(ROOT.private_key, SecretBytes)
    assert isinstance(ED_ROOT.private_key, SecretBytes)
    assert "5eb00bbd" not in repr(mnemonic.to_seed())


def test_errors_do_not_echo_extended_private_keys() -> None:
    xprv = ROOT.xprv()
    corrupted = xprv[:-1] + ("A" if xprv[-1] != "A" else "B")
    with pytest.raises(InvalidExtendedKey) as info:
        HDKey.from_extended(corrupted)
    assert xprv[4:40] not in str(info.value)


# --------------------------------------------------------------------------- properties

hardened_index = st.integers(0, HARDENED - 1).map(lambda i: i + HARDENED)
normal_index = st.integers(0, HARDENED - 1)
any_index = st.one_of(hardened_index, normal_index)


def _segment(index: int, style: str = "'") -> str:
    return f"{index - HARDENED}{style}" if index >= HARDENED else str(index)


def _path(indices: list[int], absolute: bool) -> str:
    body = "/".join(_segment(i) for i in indices)
    if absolute:
        return "m/" + body if body else "m"
    return body


seeds = st.binary(min_size=16, max_size=64)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(seed=seeds, a=st.lists(any_index, max_size=4), b=st.lists(any_index, min_size=1, max_size=4))
def test_derive_is_associative(seed: bytes, a: list[int], b: list[int]) -> None:
    root = HDKey.from_seed(seed)
    whole = root.derive(_path(a + b, absolute=True))
    stepwise = root.derive(_path(a, absolute=True)).derive(_path(b, absolute=False))
    assert stepwise.xprv() == whole.xprv()
    assert stepwise.depth == whole.depth == len(a) + len(b)
    node = root
    for index in a + b:
        node = node.derive_child(index)
    assert node.xprv() == whole.xprv()
    assert node.child_number == (a + b)[-1]


@settings(max_examples=150)
@given(
    seed=seeds,
    a=st.lists(any_index, max_size=3),
    b=st.lists(normal_index, min_size=1, max_size=4),
)
def test_public_derivation_equals_private_then_neuter(seed: bytes, a: list[int], b: list[int]) -> None:
    root = HDKey.from_seed(seed)
    parent = root.derive(_path(a, absolute=True))
    relative = _path(b, absolute=False)
    private_then_neuter = parent.derive(relative).neuter()
    public = parent.neuter().derive(relative)
    imported = HDKey.from_extended(parent.xpub()).derive(relative)
    assert public.xpub() == private_then_neuter.xpub() == imported.xpub()
    assert public.public_key == parent.derive(relative).public_key
    assert public.fingerprint == private_then_neuter.fingerprint


@settings(max_examples=100)
@given(
    seed=seeds,
    a=st.lists(hardened_index, max_size=3),
    b=st.lists(hardened_index, min_size=1, max_size=3),
)
def test_ed25519_derive_is_associative(seed: bytes, a: list[int], b: list[int]) -> None:
    root = HDKey.from_seed(seed, curve="ed25519")
    whole = root.derive(_path(a + b, absolute=True))
    stepwise = root.derive(_path(a, absolute=True)).derive(_path(b, absolute=False))
    assert stepwise.private_key.expose_secret() == whole.private_key.expose_secret()
    assert stepwise.chain_code == whole.chain_code
    assert stepwise.public_key == whole.public_key


@settings(max_examples=100)
@given(seed=seeds, path=st.lists(any_index, max_size=5))
def test_serialization_round_trip(seed: bytes, path: list[int]) -> None:
    node = HDKey.from_seed(seed).derive(_path(path, absolute=True))
    for prv, pub in (("xprv", "xpub"), ("tprv", "tpub"), ("yprv", "ypub"), ("zprv", "zpub"),
                     ("uprv", "upub"), ("vprv", "vpub")):  # fmt: skip
        assert HDKey.from_extended(node.xprv(prv)).xprv(prv) == node.xprv(prv)
        assert HDKey.from_extended(node.xpub(pub)).xpub(pub) == node.xpub(pub)
        assert HDKey.from_extended(node.xprv(prv)).public_key == node.public_key
    assert HDKey.from_extended(node.xprv("tprv")).network == "testnet"
    assert HDKey.from_extended(node.xpub("zpub")).network == "mainnet"


# Random text into every parser: a named error or a value, never anything else.
PARSERS: list[tuple[str, Callable[[str], object]]] = [
    ("Mnemonic.validate", Mnemonic.validate),
    ("Mnemonic.from_phrase", Mnemonic.from_phrase),
    ("Mnemonic.detect_language", Mnemonic.detect_language),
    ("HDKey.from_extended", HDKey.from_extended),
    ("HDKey.derive", ROOT.derive),
    ("HDKey.derive (public)", ACCOUNT.neuter().derive),
    ("HDKey.derive (ed25519)", ED_ROOT.derive),
    ("bitcoin.parse_address", bitcoin.parse_address),
    ("bitcoin.validate_address", bitcoin.validate_address),
    ("ethereum.validate_address", ethereum.validate_address),
    ("ethereum.to_checksum_address", ethereum.to_checksum_address),
    ("solana.parse_address", solana.parse_address),
    ("bitcoin.recover_message_public_key", lambda s: bitcoin.recover_message_public_key("m", s)),
    ("bitcoin.verify_message", lambda s: bitcoin.verify_message(s, "m", "H" + "A" * 87)),
]

VALID_SAMPLES = [
    ABANDON,
    ROOT.xprv(),
    ACCOUNT.xpub("zpub"),
    "m/44'/0'/0'/0/1",
    "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
    "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr",
    "1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk",
]


def _call_parser(parser: Callable[[str], object], text: str) -> None:
    with contextlib.suppress(SKMSError):
        parser(text)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A valid sample with a few characters replaced, inserted or deleted."""
    text = draw(st.sampled_from(VALID_SAMPLES))
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(("replace", "insert", "delete")))
        char = draw(st.characters(codec="utf-8"))
        if action == "insert":
            text = text[:position] + char + text[position:]
        elif action == "replace":
            text = text[:position] + char + text[position + 1 :]
        else:
            text = text[:position] + text[position + 1 :]
    return text


parser_inputs = st.one_of(
    st.text(max_size=200),
    st.text(alphabet="123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", max_size=120),
    st.text(alphabet="qpzry9x8gf2tvdw0s3jn54khce6mua7l1bcBC", max_size=100).map(lambda s: "bc1" + s),
    st.text(alphabet="0123456789'hH/m ", max_size=40),
    st.lists(st.sampled_from(["abandon", "about", "zoo", "的", "あい", "zz"]), max_size=25).map(" ".join),
    mutated(),
)


@pytest.mark.parametrize(("name", "parser"), PARSERS, ids=[p[0] for p in PARSERS])
@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=parser_inputs)
def test_parsers_raise_only_named_errors(name: str, parser: Callable[[str], object], text: str) -> None:
    _call_parser(parser, text)


def test_default_versions_follow_the_key() -> None:
    # Without a version, xprv()/xpub() keep the family the key came in (zpub in, zpub out).
    assert ACCOUNT.xpub().startswith("xpub") and ACCOUNT.xprv().startswith("xprv")
    imported = HDKey.from_extended(ACCOUNT.xpub("zpub"))
    assert imported.xpub() == ACCOUNT.xpub("zpub")
    assert imported.xpub("xpub") == ACCOUNT.xpub()
    imported_private = HDKey.from_extended(ACCOUNT.xprv("tprv"))
    assert imported_private.xprv() == ACCOUNT.xprv("tprv")
    assert imported_private.network == "testnet"


def test_key_properties() -> None:
    assert ROOT.path == "m" and ROOT.depth == 0 and ROOT.child_number == 0
    assert ROOT.parent_fingerprint == bytes(4)
    assert ROOT.network == "mainnet" and ROOT.curve == "secp256k1"
    assert HDKey.from_extended(ACCOUNT.xpub()).path is None
    assert ACCOUNT.path == "m/84'/0'/0'"
    assert ACCOUNT.child_number == HARDENED
    assert ACCOUNT.neuter().path == "m/84'/0'/0'"
    assert len(ROOT.chain_code) == 32 and len(ROOT.public_key) == 33
    assert len(ED_ROOT.public_key) == 32 and ED_ROOT.curve == "ed25519"
    nist = HDKey.from_seed(SEED, curve="nist256p1")
    assert nist.curve == "nist256p1" and len(nist.public_key) == 33
    assert nist.derive("m/0/1'").depth == 2  # nist256p1 has non-hardened derivation
