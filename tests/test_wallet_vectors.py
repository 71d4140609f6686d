"""Official vectors for skms.wallet: BIP39, BIP32, SLIP-10, BIP44/49/84/86, EIP-55, Solana.

Every test counts the cases it checked and asserts the count, so a vector file
that silently loses entries (or a loop that never runs) fails.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bip_utils
import coincurve
import pytest
from bip_utils import Base58Decoder, WifDecoder

from skms import SecretBytes
from skms.errors import InvalidExtendedKey, InvalidMnemonic
from skms.wallet import HDKey, Mnemonic, bitcoin, ethereum, solana

Loader = Callable[[str], Any]

OFFICIAL_LANGUAGES = (
    "english",
    "chinese_simplified",
    "chinese_traditional",
    "czech",
    "french",
    "italian",
    "japanese",
    "korean",
    "portuguese",
    "spanish",
)
# python-mnemonic's vectors.json also has these two; they are not BIP39 wordlists.
UNOFFICIAL_LANGUAGES = ("russian", "turkish")

BIP39_LANGUAGE_PARAMS = [
    *OFFICIAL_LANGUAGES,
    *(
        pytest.param(
            lang,
            marks=pytest.mark.skip(reason=f"{lang} is not an official BIP39 wordlist"),
        )
        for lang in UNOFFICIAL_LANGUAGES
    ),
]


def _hash160(data: bytes) -> bytes:
    return hashlib.new("ripemd160", hashlib.sha256(data).digest()).digest()


def _secret(value: SecretBytes) -> bytes:
    assert isinstance(value, SecretBytes)
    return value.expose_secret()


def _bip_utils_wordlists() -> dict[str, set[str]]:
    """The NFKD wordlists bip_utils ships (all official lists except Japanese)."""
    folder = Path(bip_utils.__file__).parent / "bip" / "bip39" / "wordlist"
    lists: dict[str, set[str]] = {}
    for path in folder.glob("*.txt"):
        words = path.read_text(encoding="utf-8").split()
        lists[path.stem] = {unicodedata.normalize("NFKD", w) for w in words}
    return lists


def _candidate_languages(phrase: str, wordlists: dict[str, set[str]]) -> set[str]:
    if "\u3000" in phrase:
        return {"japanese"}
    words = unicodedata.normalize("NFKD", phrase).split()
    return {lang for lang, wl in wordlists.items() if all(w in wl for w in words)}


# --------------------------------------------------------------------------- BIP39


def test_languages_constant() -> None:
    assert tuple(Mnemonic.LANGUAGES) == OFFICIAL_LANGUAGES


@pytest.mark.parametrize("language", BIP39_LANGUAGE_PARAMS)
def test_bip39_vectors(language: str, vectors: Loader) -> None:
    cases = vectors("bip39_vectors.json")[language]
    checked = 0
    for entropy_hex, phrase, seed_hex, xprv in cases:
        entropy = bytes.fromhex(entropy_hex)
        # entropy -> phrase, exact string (Japanese joined with U+3000)
        m = Mnemonic.from_entropy(entropy, language)
        assert m.phrase() == phrase
        assert m.language == language
        assert m.word_count == len(entropy) * 3 // 4
        assert _secret(m.entropy()) == entropy
        # phrase -> mnemonic (explicit language) -> entropy, seed, master xprv
        parsed = Mnemonic.from_phrase(phrase, language)
        assert _secret(parsed.entropy()) == entropy
        Mnemonic.validate(phrase, language)
        seed = parsed.to_seed("TREZOR")
        assert _secret(seed).hex() == seed_hex
        assert HDKey.from_seed(seed).xprv() == xprv
        assert HDKey.from_seed(bytes.fromhex(seed_hex)).xprv() == xprv
        # NFC input is normalized to NFKD before hashing
        nfc = unicodedata.normalize("NFC", phrase)
        assert _secret(Mnemonic.from_phrase(nfc, language).to_seed("TREZOR")).hex() == seed_hex
        checked += 1
    assert checked == 24


@pytest.mark.parametrize("language", BIP39_LANGUAGE_PARAMS)
def test_bip39_language_detection(language: str, vectors: Loader) -> None:
    wordlists = _bip_utils_wordlists()
    cases = vectors("bip39_vectors.json")[language]
    unique = ambiguous = 0
    for entropy_hex, phrase, _seed, _xprv in cases:
        candidates = _candidate_languages(phrase, wordlists)
        assert language in candidates
        if len(candidates) == 1:
            assert Mnemonic.detect_language(phrase) == language
            detected = Mnemonic.from_phrase(phrase)
            assert detected.language == language
            assert _secret(detected.entropy()).hex() == entropy_hex
            unique += 1
        else:
            # e.g. a Chinese phrase made only of characters both Chinese lists share
            try:
                assert Mnemonic.detect_language(phrase) in candidates
            except InvalidMnemonic as exc:
                assert "ambiguous" in str(exc).lower() or "language" in str(exc).lower()
            ambiguous += 1
    assert unique + ambiguous == 24
    assert unique >= 1


# --------------------------------------------------------------------------- BIP32


def _decode_extended(text: str) -> tuple[int, bytes, int, bytes, bytes]:
    raw = Base58Decoder.CheckDecode(text)
    assert len(raw) == 78
    return (
        raw[4],
        raw[5:9],
        int.from_bytes(raw[9:13], "big"),
        raw[13:45],
        raw[45:78],
    )


def _last_index(path: str) -> tuple[int, bool]:
    last = path.rsplit("/", 1)[-1]
    hardened = last.endswith("'")
    return int(last.rstrip("'")) + (2**31 if hardened else 0), hardened


@pytest.mark.parametrize("number", [1, 2, 3, 4])
def test_bip32_valid_vectors(number: int, vectors: Loader) -> None:
    (vector,) = [v for v in vectors("bip32_test_vectors.json")["valid"] if v["vector"] == number]
    root = HDKey.from_seed(bytes.fromhex(vector["seed"]))
    assert root.path == "m"
    checked = public_steps = 0
    parent: HDKey | None = None
    for chain in vector["chains"]:
        path, xprv, xpub = chain["path"], chain["xprv"], chain["xpub"]
        node = root.derive(path)
        assert node.xprv() == xprv, path
        assert node.xpub() == xpub, path
        assert node.path == path
        assert node.is_private
        assert node.curve == "secp256k1"
        assert node.network == "mainnet"
        depth, parent_fp, child_number, chain_code, pub = _decode_extended(xpub)
        assert node.depth == depth
        assert node.parent_fingerprint == parent_fp
        assert node.child_number == child_number
        assert node.chain_code == chain_code
        assert node.public_key == pub
        assert node.fingerprint == _hash160(pub)[:4]
        assert _secret(node.private_key) == _decode_extended(xprv)[4][1:]
        # round trips through the serialized forms
        imported = HDKey.from_extended(xprv)
        assert imported.is_private
        assert imported.xprv() == xprv
        assert imported.xpub() == xpub
        assert imported.depth == depth
        assert imported.fingerprint == node.fingerprint
        watch = HDKey.from_extended(xpub)
        assert not watch.is_private
        assert watch.xpub() == xpub
        assert node.neuter().xpub() == xpub
        # one step from the previous chain, privately and (non-hardened) publicly
        if parent is not None:
            index, hardened = _last_index(path)
            assert parent.derive_child(index).xprv() == xprv
            assert node.parent_fingerprint == parent.fingerprint
            if not hardened:
                assert HDKey.from_extended(parent.xpub()).derive_child(index).xpub() == xpub
                relative = path.rsplit("/", 1)[-1]
                assert HDKey.from_extended(parent.xpub()).derive(relative).xpub() == xpub
                public_steps += 1
        parent = node
        checked += 1
    assert checked == {1: 6, 2: 6, 3: 2, 4: 3}[number]
    assert public_steps == {1: 3, 2: 3, 3: 0, 4: 0}[number]


def test_bip32_invalid_vector_5(vectors: Loader) -> None:
    invalid = vectors("bip32_test_vectors.json")["invalid"]
    checked = 0
    for case in invalid:
        with pytest.raises(InvalidExtendedKey) as info:
            HDKey.from_extended(case["key"])
        assert str(info.value), case["reason"]
        print(f"BIP32 vector 5 ({case['reason']}): {info.value}")
        checked += 1
    assert checked == 16


# --------------------------------------------------------------------------- SLIP-10

SLIP10_TESTS = [
    ("Test vector 1 for secp256k1", 6),
    ("Test vector 1 for nist256p1", 6),
    ("Test vector 1 for ed25519", 6),
    ("Test vector 1 for curve25519", 6),
    ("Test vector 2 for secp256k1", 6),
    ("Test vector 2 for nist256p1", 6),
    ("Test vector 2 for ed25519", 6),
    ("Test vector 2 for curve25519", 6),
    ("Test derivation retry for nist256p1", 3),
    ("Test seed retry for nist256p1", 1),
]


def _slip10_param(name: str, count: int) -> Any:
    if name.endswith("curve25519"):
        reason = "curve25519 (X25519 keys) is not in the scope of issue 3"
        return pytest.param(name, count, marks=pytest.mark.skip(reason=reason), id=name)
    return pytest.param(name, count, id=name)


def test_slip10_file_has_the_expected_tests(vectors: Loader) -> None:
    tests = vectors("slip10_test_vectors.json")["tests"]
    assert [(t["name"], len(t["chains"])) for t in tests] == SLIP10_TESTS


@pytest.mark.parametrize(("name", "count"), [_slip10_param(n, c) for n, c in SLIP10_TESTS])
def test_slip10_vectors(name: str, count: int, vectors: Loader) -> None:
    (test,) = [t for t in vectors("slip10_test_vectors.json")["tests"] if t["name"] == name]
    curve = test["curve"]
    root = HDKey.from_seed(bytes.fromhex(test["seed"]), curve=curve)
    assert root.curve == curve
    checked = 0
    for chain in test["chains"]:
        node = root.derive(chain["path"])
        assert node.path == chain["path"]
        assert node.chain_code.hex() == chain["chain_code"], chain["path"]
        assert _secret(node.private_key).hex() == chain["private"], chain["path"]
        public = node.public_key
        if curve == "ed25519":
            assert len(public) == 32
            public = b"\x00" + public  # the SLIP prints 0x00 || key
        assert public.hex() == chain["public"], chain["path"]
        # the file's "fingerprint" is the parent's fingerprint
        assert node.parent_fingerprint.hex() == chain["fingerprint"], chain["path"]
        assert node.fingerprint == _hash160(bytes.fromhex(chain["public"]))[:4]
        checked += 1
    assert checked == count


# --------------------------------------------------------------------------- BIP44/49/84/86


@pytest.fixture(scope="module")
def abandon_root() -> HDKey:
    phrase = " ".join(["abandon"] * 11 + ["about"])
    return HDKey.from_seed(Mnemonic.from_phrase(phrase).to_seed())


def _strip(value: str) -> str:
    value = value.removesuffix(" (testnet)")
    return value.removeprefix("0x")


def _values(groups: list[dict[str, Any]]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for group in groups:
        merged.update({k: _strip(v) for k, v in group["values"].items()})
    return merged


def test_bip44_49_84_86_seed(vectors: Loader) -> None:
    data = vectors("bip44_49_84_86_vectors.json")
    seed = Mnemonic.from_phrase(data["mnemonic"]).to_seed(data["passphrase"])
    assert _secret(seed).hex() == data["bip39_seed_hex"]


def test_bip44_account(abandon_root: HDKey, vectors: Loader) -> None:
    account = vectors("bip44_49_84_86_vectors.json")["bip44"]["account"]
    node = abandon_root.derive(account["path"])
    assert node.xprv() == account["extended_private_key"]
    assert node.xpub() == account["extended_public_key"]
    first = abandon_root.derive(account["first_address_path"])
    assert first.address("bitcoin", kind="p2pkh") == account["first_address"]
    assert bitcoin.address(first.public_key, "p2pkh") == account["first_address"]
    # the same address from the watch-only account key
    watch = HDKey.from_extended(account["extended_public_key"])
    assert watch.derive("0/0").address("bitcoin", kind="p2pkh") == account["first_address"]


def test_bip49_mainnet_account(abandon_root: HDKey, vectors: Loader) -> None:
    account = vectors("bip44_49_84_86_vectors.json")["bip49"]["mainnet"]["account"]
    node = abandon_root.derive(account["path"])
    assert node.xprv("yprv") == account["extended_private_key"]
    assert node.xpub("ypub") == account["extended_public_key"]
    first = abandon_root.derive(account["first_address_path"])
    assert first.address("bitcoin", kind="p2sh-p2wpkh") == account["first_address"]
    imported = HDKey.from_extended(account["extended_public_key"])
    assert imported.xpub("ypub") == account["extended_public_key"]
    assert imported.xpub("xpub") == node.xpub()
    assert imported.derive("0/0").address("bitcoin", kind="p2sh-p2wpkh") == account["first_address"]
    assert HDKey.from_extended(account["extended_private_key"]).xprv("xprv") == node.xprv()


def test_bip49_testnet(abandon_root: HDKey, vectors: Loader) -> None:
    section = vectors("bip44_49_84_86_vectors.json")["bip49"]["testnet"]
    v = _values(section["groups"])
    assert abandon_root.xprv("uprv") == v["masterseed"]
    root = HDKey.from_extended(v["masterseed"])
    assert root.network == "testnet"
    assert root.xprv("uprv") == v["masterseed"]
    account = root.derive("m/49'/1'/0'")
    assert account.xprv("uprv") == v["account0Xpriv"]
    assert account.xpub("upub") == v["account0Xpub"]
    assert abandon_root.derive("m/49'/1'/0'").xpub("upub") == v["account0Xpub"]
    key = root.derive("m/49'/1'/0'/0/0")
    assert _secret(key.private_key).hex() == v["account0recvPrivateKeyHex"]
    assert WifDecoder.Decode(v["account0recvPrivateKey"], net_ver=b"\xef")[0] == bytes.fromhex(
        v["account0recvPrivateKeyHex"]
    )
    assert key.public_key.hex() == v["account0recvPublicKeyHex"]
    assert _hash160(key.public_key).hex() == v["keyhash"]
    assert v["scriptSig"] == "0014" + v["keyhash"]
    assert _hash160(bytes.fromhex(v["scriptSig"])).hex() == v["addressBytes"]
    # the key's network (testnet, from the uprv) is the default
    assert key.address("bitcoin", kind="p2sh-p2wpkh") == v["address"]
    assert (
        abandon_root.derive("m/49'/1'/0'/0/0").address("bitcoin", kind="p2sh-p2wpkh", network="testnet") == v["address"]
    )
    assert bitcoin.address(key.public_key, "p2sh-p2wpkh", "testnet") == v["address"]
    parsed = bitcoin.parse_address(v["address"])
    assert (parsed.kind, parsed.network) == ("p2sh", "testnet")  # the script is not visible
    assert parsed.program.hex() == v["addressBytes"]
    watch = HDKey.from_extended(v["account0Xpub"])
    assert watch.network == "testnet"
    assert watch.derive("0/0").address("bitcoin", kind="p2sh-p2wpkh") == v["address"]


def test_bip84(abandon_root: HDKey, vectors: Loader) -> None:
    section = vectors("bip44_49_84_86_vectors.json")["bip84"]
    groups = section["groups"]
    assert abandon_root.xprv("zprv") == groups[0]["values"]["rootpriv"]
    assert abandon_root.xpub("zpub") == groups[0]["values"]["rootpub"]
    account = abandon_root.derive("m/84'/0'/0'")
    assert account.xprv("zprv") == groups[1]["values"]["xpriv"]
    assert account.xpub("zpub") == groups[1]["values"]["xpub"]
    watch = HDKey.from_extended(groups[1]["values"]["xpub"])
    paths = {2: "m/84'/0'/0'/0/0", 3: "m/84'/0'/0'/0/1", 4: "m/84'/0'/0'/1/0"}
    checked = 0
    for number, path in paths.items():
        values = groups[number]["values"]
        key = abandon_root.derive(path)
        assert key.public_key.hex() == values["pubkey"]
        wif_key = WifDecoder.Decode(values["privkey"], net_ver=b"\x80")[0]
        assert _secret(key.private_key) == wif_key
        assert key.address("bitcoin") == values["address"]  # p2wpkh is the default
        assert key.address("bitcoin", kind="p2wpkh") == values["address"]
        relative = path.removeprefix("m/84'/0'/0'/")
        assert watch.derive(relative).address("bitcoin") == values["address"]
        checked += 1
    assert checked == 3
    cross = section["slip0132_cross_check"]
    assert account.xpub("zpub") == cross["extended_public_key"]
    assert abandon_root.derive(cross["first_address_path"]).address("bitcoin") == (cross["first_address"])


def test_bip86(abandon_root: HDKey, vectors: Loader) -> None:
    groups = vectors("bip44_49_84_86_vectors.json")["bip86"]["groups"]
    assert abandon_root.xprv() == groups[0]["values"]["rootpriv"]
    assert abandon_root.xpub() == groups[0]["values"]["rootpub"]
    account = abandon_root.derive("m/86'/0'/0'")
    assert account.xprv() == groups[1]["values"]["xprv"]
    assert account.xpub() == groups[1]["values"]["xpub"]
    paths = {2: "m/86'/0'/0'/0/0", 3: "m/86'/0'/0'/0/1", 4: "m/86'/0'/0'/1/0"}
    checked = 0
    for number, path in paths.items():
        values = groups[number]["values"]
        key = abandon_root.derive(path)
        assert key.xprv() == values["xprv"]
        assert key.xpub() == values["xpub"]
        assert key.public_key[1:].hex() == values["internal_key"]
        output_key = bitcoin.taproot_output_key(key.public_key[1:])
        assert output_key.hex() == values["output_key"]
        assert key.address("bitcoin", kind="p2tr") == values["address"]
        assert bitcoin.address(key.public_key, "p2tr") == values["address"]
        parsed = bitcoin.parse_address(values["address"])
        assert (parsed.kind, parsed.network) == ("p2tr", "mainnet")
        assert "5120" + parsed.program.hex() == values["scriptPubKey"]
        checked += 1
    assert checked == 3


# --------------------------------------------------------------------------- Ethereum


def test_eip55_vectors(vectors: Loader) -> None:
    cases = vectors("ethereum_address_vectors.json")["eip55"]["valid_checksummed"]
    checked = 0
    for case in cases:
        address = case["address"]
        ethereum.validate_address(address)
        assert ethereum.to_checksum_address(address) == address
        assert ethereum.to_checksum_address(address.lower()) == address
        assert ethereum.to_checksum_address("0x" + address[2:].upper()) == address
        checked += 1
    assert checked == 8


def test_ethereum_private_key_to_address(vectors: Loader) -> None:
    cases = vectors("ethereum_address_vectors.json")["private_key_to_address"]["vectors"]
    checked = 0
    for case in cases:
        secret = bytes.fromhex(case["private_key"].removeprefix("0x"))
        public = coincurve.PrivateKey(secret).public_key
        expected = ethereum.to_checksum_address(case["address"])
        assert ethereum.address(public.format(compressed=True)) == expected
        assert ethereum.address(public.format(compressed=False)) == expected
        if "address_note" in case:
            assert expected == case["address_note"].rsplit(" ", 1)[-1]
        checked += 1
    assert checked == 3


def test_ethereum_hd_vectors(vectors: Loader) -> None:
    cases = vectors("ethereum_address_vectors.json")["hd_derivation"]["vectors"]
    checked = 0
    for case in cases:
        seed = Mnemonic.from_phrase(case["mnemonic"]).to_seed(case["passphrase"])
        root = HDKey.from_seed(seed)
        if "addresses" in case:
            for i, expected in enumerate(case["addresses"]):
                assert root.derive(f"m/44'/60'/0'/0/{i}").address("ethereum") == expected
                checked += 1
        else:
            assert root.derive(case["path"]).address("ethereum") == case["address"]
            checked += 1
    assert checked == 3 + 5


# --------------------------------------------------------------------------- Solana


def test_solana_vectors(vectors: Loader) -> None:
    data = vectors("solana_derivation_vectors.json")
    seed = Mnemonic.from_phrase(data["mnemonic"]).to_seed(data["passphrase"])
    root = HDKey.from_seed(seed, curve="ed25519")
    checked = 0
    for case in data["vectors"]:
        key = root.derive(case["path"])
        assert _secret(key.private_key).hex() == case["computed_private_key_seed_hex"]
        assert key.chain_code.hex() == case["computed_chain_code_hex"]
        assert key.public_key.hex() == case["computed_public_key_hex"]
        assert key.address("solana") == case["address"]
        assert solana.address(key.public_key) == case["address"]
        assert solana.parse_address(case["address"]) == key.public_key
        assert key.xprv() == case["slip10_ed25519_extended_private_key_xprv"]
        checked += 1
    assert checked == 2
