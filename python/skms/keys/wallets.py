"""HD wallets held by the key service: a BIP39 root (entropy and seed) per wallet.

Material layout (encrypted like any key version): ``seed (64) ‖ entropy (0, 16…32)``.
The entropy is kept so an exportable wallet can show its phrase again; the BIP39
passphrase is not stored (the seed already includes it).
"""

import base64
from typing import Any

from skms._native import SecretBytes
from skms.crypto.memory import exposed, wipe
from skms.crypto.random import random_secret
from skms.errors import InvalidInput, UnsupportedOperation
from skms.wallet import HDKey, Mnemonic, account_path, bitcoin, derive_addresses, ethereum, solana

SEED = 64
#: BIP39 phrase lengths.
WORDS = (12, 15, 18, 21, 24)
#: Addresses one call derives at most: the native core takes up to 2^31, hours of CPU for one call.
MAX_ADDRESSES = 100_000
SCHEMES = ("bitcoin-ecdsa", "bitcoin-taproot", "bitcoin-message", "ethereum-personal", "ethereum-digest", "solana")


class WalletRoot:
    def __init__(self, seed: SecretBytes, entropy: SecretBytes | None, language: str | None) -> None:
        if len(seed) != SEED:
            raise InvalidInput(f"a wallet seed is {SEED} bytes, got {len(seed)}")
        self._seed = seed
        self._entropy = entropy
        self._language = language
        self._roots: dict[str, HDKey] = {}

    @classmethod
    def generate(cls, words: int, passphrase: str, language: str) -> tuple["WalletRoot", str]:
        """A new wallet of ``words`` words; its BIP39 entropy from :func:`random_secret` (hsm_random:
        the token's generator mixed in), so it blocks while a token answers (run off the event loop)."""
        if words not in WORDS:
            raise InvalidInput(f"a BIP39 phrase has 12, 15, 18, 21 or 24 words, not {words}")
        mnemonic = Mnemonic.from_entropy(random_secret(words * 4 // 3), language)  # 11 bits a word, 1/33 checksum
        return cls(mnemonic.to_seed(passphrase), mnemonic.entropy(), language), mnemonic.phrase()

    @classmethod
    def from_phrase(cls, phrase: str, passphrase: str) -> "WalletRoot":
        mnemonic = Mnemonic.from_phrase(phrase)
        return cls(mnemonic.to_seed(passphrase), mnemonic.entropy(), mnemonic.language)

    @classmethod
    def from_seed(cls, seed: bytes) -> "WalletRoot":
        if not 16 <= len(seed) <= 64:
            raise InvalidInput(f"a BIP32 seed is 16 to 64 bytes, got {len(seed)}")
        # Shorter seeds (BIP32 vectors) are kept as given: padded length is recorded in meta.
        return cls(SecretBytes(seed.ljust(SEED, b"\0")), None, None)._with_seed_length(len(seed))

    def _with_seed_length(self, n: int) -> "WalletRoot":
        self._seed_length = n
        return self

    @classmethod
    def from_material(cls, material: SecretBytes, meta: dict[str, Any]) -> "WalletRoot":
        n = len(material)
        entropy = material.slice(SEED, n) if n > SEED else None
        root = cls(material.slice(0, min(SEED, n)), entropy, meta.get("language"))
        return root._with_seed_length(int(meta.get("seed_length", SEED)))

    def material(self) -> SecretBytes:
        parts = [self._seed] if self._entropy is None else [self._seed, self._entropy]
        joined = bytearray(sum(len(p) for p in parts))  # filled in place, then wiped: no loose copy
        try:
            at = 0
            for part in parts:
                with exposed(part) as raw:
                    joined[at : at + len(raw)] = raw
                    at += len(raw)
            return SecretBytes(joined)
        finally:
            wipe(joined)

    def meta(self) -> dict[str, Any]:
        words = len(self._entropy) * 3 // 4 if self._entropy is not None else None
        return {
            "language": self._language,
            "words": words,
            "seed_length": getattr(self, "_seed_length", SEED),
            "fingerprint": self.root("secp256k1").fingerprint.hex(),
        }

    def root(self, curve: str) -> HDKey:
        root = self._roots.get(curve)
        if root is None:
            n = getattr(self, "_seed_length", SEED)
            root = HDKey.from_seed(self._seed.slice(0, n), curve)
            self._roots[curve] = root
        return root

    def phrase(self) -> str:
        if self._entropy is None:
            raise UnsupportedOperation("this wallet was imported from a seed: it has no phrase")
        return Mnemonic.from_entropy(self._entropy, self._language or "english").phrase()

    def _node(self, path: str, curve: str = "secp256k1") -> HDKey:
        if not path.startswith(("m/", "M/")) and path not in ("m", "M"):
            raise InvalidInput("wallet paths are absolute: start them with m/")
        return self.root(curve).derive(path)

    def xpub(self, path: str) -> dict[str, str]:
        node = self._node(path)
        return {"path": path, "xpub": node.xpub(), "fingerprint": node.fingerprint.hex()}

    def addresses(
        self, chain: str, account: int, change: int, start: int, count: int, kind: str | None, network: str
    ) -> list[dict[str, Any]]:
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_ADDRESSES:
            raise InvalidInput(f"count must be 1 to {MAX_ADDRESSES}, got {count!r}", field="count")
        if chain == "solana":
            if change or account:
                raise InvalidInput("Solana addresses are numbered by index alone: m/44'/501'/{index}'/0'")
            pairs = derive_addresses(self.root("ed25519"), "m/44'/501'/{index}'/0'", start, count, "solana")
        else:
            prefix = f"{account_path(chain, account, kind, network)}/{change}"
            pairs = derive_addresses(self.root("secp256k1"), prefix, start, count, chain, kind, network)
        return [{"index": start + i, "path": p, "address": a} for i, (p, a) in enumerate(pairs)]

    def sign(
        self, path: str, scheme: str, *, payload: bytes | None, digest: bytes | None, chain_id: int | None
    ) -> dict[str, Any]:
        if scheme not in SCHEMES:
            raise InvalidInput(f"unknown signing scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
        if (payload is None) == (digest is None):
            raise InvalidInput("give exactly one of payload or digest")
        if scheme == "solana":
            node = self._node(path, "ed25519")
            if payload is None:
                raise InvalidInput("Solana signs the message bytes: give payload")
            sig = solana.sign(node, payload)
            return {"signature": base64.b64encode(sig).decode(), "address": node.address("solana")}
        node = self._node(path)
        if scheme == "ethereum-personal":
            if payload is None:
                raise InvalidInput("personal_sign signs a message: give payload")
            sig = ethereum.personal_sign(node, payload)
            return {"signature": "0x" + sig.hex(), "address": node.address("ethereum")}
        if scheme == "bitcoin-message":
            if payload is None:
                raise InvalidInput("a signed message needs payload")
            return {"signature": bitcoin.sign_message(node, payload), "address": node.address("bitcoin", "p2pkh")}
        if digest is None or len(digest) != 32:
            raise InvalidInput(f"scheme {scheme} signs a 32-byte digest: give digest")
        if scheme == "ethereum-digest":
            esig = ethereum.sign_digest(node, digest, chain_id)
            return {"v": esig.v, "r": hex(esig.r), "s": hex(esig.s), "signature": "0x" + esig.to_bytes().hex(),
                    "address": node.address("ethereum")}  # fmt: skip
        if scheme == "bitcoin-ecdsa":
            der = bitcoin.sign_sighash(node, digest)
            return {"signature": der.hex(), "public_key": node.public_key.hex()}
        sig = bitcoin.sign_taproot(node, digest)
        output_key = bitcoin.taproot_output_key(node.public_key)
        return {"signature": sig.hex(), "output_key": output_key.hex(), "address": node.address("bitcoin", "p2tr")}
