"""Property tests of the wallet parsers that take outside input (issue 13, "Also").

Derivation paths (the native parser behind ``HDKey.derive`` and ``derive_addresses``, and the
layouts of :mod:`skms.wallet.paths`), the integers of the wallet routes (account, change, start,
count, chain id), signatures given for recovery (Bitcoin messages, Ethereum), BIP39 phrases and
SLIP-39 escrow shares. Every input raises only the documented ``skms.errors`` class, or gives a
value that round-trips; nothing hangs (every size is bounded).

Random text into each parser is in ``test_wallet_errors.py``; these add structured inputs that get
past the first character: extreme indices (2^31, 2^32, 2^64, negative), depth past 255, unicode
digits, NUL and whitespace inside components, and integers of any size where the API takes ints.
"""

from __future__ import annotations

import base64
import contextlib
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from skms.errors import (
    IntegrityError,
    InvalidInput,
    InvalidMnemonic,
    InvalidPath,
    InvalidSignature,
    InvalidType,
    SKMSError,
    UnsupportedOperation,
)
from skms.keys import backup
from skms.keys.wallets import WalletRoot
from skms.wallet import HDKey, Mnemonic, account_path, address_path, bitcoin, derive_addresses, ethereum, solana

SEED = bytes(range(64))
ROOT = HDKey.from_seed(SEED)
PUBLIC = ROOT.derive("m/44'/0'/0'").neuter()
ED_ROOT = HDKey.from_seed(SEED, "ed25519")
WALLET = WalletRoot.from_seed(SEED)
HARDENED = 2**31

PROPERTY = settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])

# -- derivation paths ---------------------------------------------------------------------------

EXTREME_INDICES = [0, 1, HARDENED - 1, HARDENED, HARDENED + 1, 2**32 - 1, 2**32, 2**63, 2**64, 10**30, -1, -(2**31)]
MARKS = ["", "", "'", "h", "H", "''", "h'", "'h", "p", "’"]  # the last one is a typographic apostrophe
JUNK = ["", "", "", " ", "\x00", "\t", "+", "-", "0", "²", "١", "𝟙", "\n", "{index}"]


@st.composite
def components(draw: st.DrawFn) -> str:
    number = draw(st.one_of(st.integers(0, HARDENED - 1), st.sampled_from(EXTREME_INDICES), st.integers()))
    mark = draw(st.sampled_from(MARKS))
    before, after = draw(st.sampled_from(JUNK)), draw(st.sampled_from(JUNK))
    return f"{before}{number}{after}{mark}" if draw(st.booleans()) else f"{before}{number}{mark}{after}"


@st.composite
def paths(draw: st.DrawFn) -> str:
    parts = draw(st.lists(components(), max_size=8))
    if draw(st.integers(0, 9)) == 0:  # deep: 250 to 300 levels, around the limit of 255
        parts = parts + ["0"] * draw(st.integers(250, 300))
    prefix = draw(st.sampled_from(["m", "m", "m", "M", "", "m/", "/", " m", "m ", "mm", "n"]))
    separator = draw(st.sampled_from(["/", "/", "/", "/", "//", "\\", " /"]))
    return prefix + "".join(separator + p for p in parts)


COMPONENT = re.compile(r"\A([0-9]+)(['hH]?)\Z")  # ASCII digits only: not "²", "١" or "𝟙"


def reference_parse(text: str) -> list[int] | None:
    """BIP32 path text as SKMS documents it (decimal indices, ' h or H for hardened), or None."""
    if text in ("", "m", "M"):
        return []
    head, _, rest = text.partition("/")
    if head not in ("m", "M") or not _:
        return None
    indices = []
    for part in rest.split("/"):
        match = COMPONENT.match(part)
        if match is None or len(match[1].lstrip("0")) > 10 or int(match[1]) >= HARDENED:
            return None
        indices.append(int(match[1]) + (HARDENED if match[2] else 0))
    return indices if len(indices) <= 255 else None


def _canonical(indices: list[int]) -> str:
    return "/".join(["m", *(f"{i - HARDENED}'" if i >= HARDENED else str(i) for i in indices)])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(text=paths())
@example("m/2147483648")
@example("m/2147483648'")
@example("m/4294967296")
@example("m/18446744073709551616'")
@example("m/-1")
@example("m/01")
@example("m/" + "/".join(["0"] * 255))
@example("m/" + "/".join(["0"] * 256))
@example("m/" + "1" * 10_000)
@example("m/" + "/".join(["1"] * 20_000))
def test_derive_raises_only_invalid_path_or_round_trips(text: str) -> None:
    expected = reference_parse(text)
    try:
        node = ROOT.derive(text)
    except InvalidPath:
        assert expected is None, f"{text[:80]!r} is a valid path"
        return
    assert expected is not None, f"{text[:80]!r} was accepted"
    assert node.path == _canonical(expected)
    assert node.depth == len(expected)
    if len(expected) <= 12:  # the same key one child at a time (bounded: 255 levels cost ~0.1 s)
        step = ROOT
        for index in expected:
            step = step.derive_child(index)
        assert step.public_key == node.public_key
        assert ROOT.derive(node.path).public_key == node.public_key  # the canonical form reads back


@PROPERTY
@given(text=paths())
def test_derive_on_public_and_ed25519_keys_raises_only_named_errors(text: str) -> None:
    for key in (PUBLIC, ED_ROOT):
        try:
            key.derive(text)
        except (InvalidPath, UnsupportedOperation):
            continue


@PROPERTY
@given(index=st.one_of(st.integers(), st.sampled_from(EXTREME_INDICES)))
def test_derive_child_raises_only_invalid_input(index: int) -> None:
    try:
        child = ROOT.derive_child(index)
    except InvalidInput:
        assert not 0 <= index < 2**32
        return
    assert child.child_number == index


any_int = st.one_of(st.integers(), st.sampled_from(EXTREME_INDICES), st.integers(-5, 5))
not_int = st.one_of(st.booleans(), st.floats(), st.text(max_size=4), st.none())
chains = st.sampled_from(["bitcoin", "ethereum", "solana", "", "Bitcoin", "doge", "solana\x00"])
kinds = st.sampled_from([None, "p2pkh", "p2sh-p2wpkh", "p2wpkh", "p2tr", "p2wsh", "P2PKH", ""])
networks = st.sampled_from(["mainnet", "testnet", "regtest", "", "MAINNET"])


@PROPERTY
@given(
    chain=chains,
    account=st.one_of(any_int, not_int),
    change=st.one_of(any_int, not_int),
    index=st.one_of(any_int, not_int),
    kind=kinds,
    network=networks,
)
def test_layout_paths_raise_only_invalid_input(
    chain: str, account: Any, change: Any, index: Any, kind: str | None, network: str
) -> None:
    try:
        path = address_path(chain, account, change, index, kind, network)
    except InvalidInput:
        return
    # A path the layouts give is one the parser takes, on the curve of the chain.
    (ED_ROOT if chain == "solana" else ROOT).derive(path)
    assert path.startswith(account_path(chain, account if chain != "solana" else 0, kind, network))


@PROPERTY
@given(
    chain=chains,
    account=any_int,
    change=any_int,
    start=any_int,
    count=st.one_of(st.integers(-3, 3), st.sampled_from([-(2**63), 100_001, 2**31, 2**32, 2**64, True])),
    kind=kinds,
    network=networks,
)
@example("bitcoin", 0, 0, 0, 2**31, None, "mainnet")  # was accepted: two billion derivations in one call
def test_wallet_addresses_raise_only_named_errors(
    chain: str, account: int, change: int, start: int, count: int, kind: str | None, network: str
) -> None:
    try:
        items = WALLET.addresses(chain, account, change, start, count, kind, network)
    except SKMSError:
        return
    assert len(items) == count
    assert [i["index"] for i in items] == list(range(start, start + count))


@PROPERTY
@given(
    prefix=st.sampled_from(["m/44'/0'/0'/0", "m/44'/501'/{index}'/0'", "m/{index}", "m/0/{index}/{index}", "m/x"]),
    start=any_int,
    # Not 2^31 itself: the native core takes any count up to 2^31 (the wallet layer bounds it).
    count=st.one_of(st.integers(-3, 3), st.sampled_from([2**31 + 1, 2**32, 2**64])),
)
def test_derive_addresses_raises_only_named_errors(prefix: str, start: int, count: int) -> None:
    key, chain = (ED_ROOT, "solana") if "501" in prefix else (ROOT, "bitcoin")
    try:
        pairs = derive_addresses(key, prefix, start, count, chain)
    except SKMSError:
        return
    assert len(pairs) == count


# -- signing and recovery -----------------------------------------------------------------------

SCHEMES = ["bitcoin-ecdsa", "bitcoin-taproot", "bitcoin-message", "ethereum-personal", "ethereum-digest", "solana"]


@PROPERTY
@given(
    scheme=st.one_of(st.sampled_from(SCHEMES), st.text(max_size=10)),
    path=st.one_of(st.sampled_from(["m/44'/60'/0'/0/0", "m/44'/501'/0'/0'", "m/0", "0/1", "m", ""]), paths()),
    payload=st.one_of(st.none(), st.binary(max_size=64)),
    digest=st.one_of(st.none(), st.binary(max_size=40), st.binary(min_size=32, max_size=32)),
    chain_id=st.one_of(st.none(), any_int),
)
@example("ethereum-digest", "m/0", None, bytes(32), -18)  # was v = 0/1: read back as a signature without a chain
@example("ethereum-digest", "m/0", None, bytes(32), -1)  # was v = 34: "v must be ... >= 35", an odd refusal
@example("ethereum-digest", "m/0", None, bytes(32), 0)
@example("ethereum-digest", "m/0", None, bytes(32), 2**64 - 1)
def test_wallet_sign_raises_only_named_errors(
    scheme: str, path: str, payload: bytes | None, digest: bytes | None, chain_id: int | None
) -> None:
    try:
        out = WALLET.sign(path, scheme, payload=payload, digest=digest, chain_id=chain_id)
    except SKMSError as e:
        if scheme == "ethereum-digest" and chain_id is not None and chain_id < 1 and isinstance(e, InvalidInput):
            assert "chain_id" in str(e) or "path" in str(e) or "digest" in str(e) or "payload" in str(e)
        return
    if scheme == "ethereum-digest":
        assert digest is not None
        assert chain_id is None or chain_id >= 1
        signature = ethereum.EthereumSignature(out["v"], int(out["r"], 16), int(out["s"], 16))
        assert ethereum.recover_digest(digest, signature, chain_id) == out["address"]


@PROPERTY
@given(
    v=st.one_of(st.integers(-(2**70), 2**70), st.sampled_from([0, 1, 27, 28, 34, 35, 36, 2**64])),
    r=st.one_of(st.integers(-(2**300), 2**300), st.integers(0, 2**256)),
    s=st.one_of(st.integers(-(2**300), 2**300), st.integers(0, 2**256)),
    chain_id=st.one_of(st.none(), any_int),
    digest=st.binary(min_size=32, max_size=32),
)
def test_ethereum_recover_raises_only_invalid_signature(
    v: int, r: int, s: int, chain_id: int | None, digest: bytes
) -> None:
    try:
        address = ethereum.recover_digest(digest, ethereum.EthereumSignature(v, r, s), chain_id)
    except InvalidInput:  # InvalidSignature, or InvalidInput naming chain_id
        return
    ethereum.validate_address(address)


@PROPERTY
@given(signature=st.binary(max_size=80), message=st.binary(max_size=40))
def test_ethereum_recover_bytes_raises_only_invalid_signature(signature: bytes, message: bytes) -> None:
    with contextlib.suppress(InvalidSignature):
        ethereum.validate_address(ethereum.recover_personal(message, signature))


@PROPERTY
@given(raw=st.one_of(st.binary(min_size=65, max_size=65), st.binary(max_size=80)), message=st.text(max_size=20))
def test_bitcoin_message_recovery_raises_only_invalid_signature(raw: bytes, message: str) -> None:
    signature = base64.b64encode(raw).decode()
    try:
        key = bitcoin.recover_message_public_key(message, signature)
    except InvalidSignature:
        assert bitcoin.verify_message("1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA", message, signature) is False
        return
    assert len(key) in (33, 65)


@PROPERTY
@given(public_key=st.binary(min_size=32, max_size=32))
def test_solana_address_round_trip(public_key: bytes) -> None:
    assert solana.parse_address(solana.address(public_key)) == public_key


@PROPERTY
@given(index=st.integers(0, 2**31 - 1), kind=st.sampled_from(["p2pkh", "p2sh-p2wpkh", "p2wpkh", "p2tr"]))
def test_bitcoin_and_ethereum_addresses_round_trip(index: int, kind: str) -> None:
    node = ROOT.derive_child(index)
    for network in ("mainnet", "testnet"):
        text = bitcoin.address(node.public_key, kind, network)
        parsed = bitcoin.parse_address(text)
        assert parsed.network == network
        bitcoin.validate_address(text, network)
    eth = ethereum.address(node.public_key)
    assert ethereum.to_checksum_address(eth.lower()) == eth
    ethereum.validate_address(eth)


# -- BIP39 phrases and SLIP-39 shares -------------------------------------------------------------

PHRASES = [Mnemonic.from_entropy(bytes([i]) * n).phrase() for i, n in ((0, 16), (7, 20), (255, 32), (42, 24))]
WORDS = sorted({w for p in PHRASES for w in p.split()})


@st.composite
def phrase_like(draw: st.DrawFn) -> str:
    words = draw(st.sampled_from(PHRASES)).split()
    for _ in range(draw(st.integers(0, 4))):
        action = draw(st.sampled_from(("swap", "drop", "add", "replace", "junk")))
        position = draw(st.integers(0, len(words)))
        if action == "swap" and len(words) > 1:
            a, b = draw(st.integers(0, len(words) - 1)), draw(st.integers(0, len(words) - 1))
            words[a], words[b] = words[b], words[a]
        elif action == "drop" and words:
            del words[min(position, len(words) - 1)]
        elif action == "add":
            words.insert(position, draw(st.sampled_from(WORDS)))
        elif action == "replace" and words:
            words[min(position, len(words) - 1)] = draw(st.sampled_from(WORDS))
        else:
            words.insert(
                position, draw(st.sampled_from(["\x00", "ａｂａｎｄｏｎ", "ABANDON", "abandon\u200b", "é" * 50]))
            )
    separator = draw(st.sampled_from([" ", " ", "  ", "\t", "\u3000", "\n"]))
    return separator.join(words)


@PROPERTY
@given(phrase=phrase_like(), language=st.sampled_from([None, "english", "japanese", "klingon"]))
def test_phrases_raise_only_invalid_mnemonic_or_round_trip(phrase: str, language: str | None) -> None:
    try:
        mnemonic = Mnemonic.from_phrase(phrase, language)
    except InvalidInput:  # InvalidMnemonic, or an unknown language named
        return
    again = Mnemonic.from_entropy(mnemonic.entropy(), mnemonic.language)
    assert again.phrase() == mnemonic.phrase()
    assert mnemonic.word_count in (12, 15, 18, 21, 24)


@PROPERTY
@given(entropy=st.sampled_from([16, 20, 24, 28, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n)))
def test_phrase_round_trip(entropy: bytes) -> None:
    phrase = Mnemonic.from_entropy(entropy).phrase()
    assert Mnemonic.from_phrase(phrase).entropy().expose_secret() == entropy


@pytest.fixture(scope="module")
def escrow() -> tuple[list[str], bytes, bytes]:
    private, public = backup.create_backup_keypair()
    return backup.split_backup_key(private, 2, 3), private.expose_secret(), public


@st.composite
def share_sets(draw: st.DrawFn, shares: list[str]) -> list[Any]:
    chosen = list(draw(st.lists(st.sampled_from(shares), max_size=4)))
    for _ in range(draw(st.integers(0, 3))):
        if not chosen:
            break
        i = draw(st.integers(0, len(chosen) - 1))
        words = chosen[i].split() if isinstance(chosen[i], str) else []
        if not words:
            continue
        j = draw(st.integers(0, len(words) - 1))
        action = draw(st.sampled_from(("swap-word", "drop-word", "junk", "truncate")))
        if action == "swap-word":
            words[j] = draw(st.sampled_from(shares)).split()[draw(st.integers(0, 19))]
        elif action == "drop-word":
            del words[j]
        elif action == "junk":
            words[j] = draw(st.sampled_from(["\x00", "zzz", "", "１", "academic" * 20]))
        else:
            words = words[:j]
        chosen[i] = " ".join(words)
    if draw(st.integers(0, 9)) == 0:
        chosen.append(draw(st.one_of(st.none(), st.integers(), st.binary(max_size=8))))
    return chosen


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_slip39_shares_raise_only_named_errors(escrow: tuple[list[str], bytes, bytes], data: st.DataObject) -> None:
    shares, private, public = escrow
    chosen = data.draw(share_sets(shares))
    try:
        secret = backup.recover_backup_key(chosen, public_key=public)
    except (InvalidInput, IntegrityError) as e:
        assert isinstance(e, InvalidType | InvalidInput | IntegrityError)
        return
    assert secret.expose_secret() == private


def test_wallet_errors_are_the_documented_classes() -> None:
    """The classes these properties accept are the ones the API documents for each parser."""
    assert issubclass(InvalidPath, InvalidInput) and issubclass(InvalidMnemonic, InvalidInput)
    assert issubclass(InvalidSignature, InvalidInput) and issubclass(InvalidType, InvalidInput)
