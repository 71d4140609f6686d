"""The seal: how the root key is protected at rest, and how it is opened.

The root key (KEK, 32 random bytes) is stored only wrapped by an *unseal key*,
obtained one of three ways:

- ``passphrase``: Argon2id over a passphrase (parameters stored with the seal);
- ``shamir``: M-of-N SLIP-39 mnemonic shares of the unseal key (``shamir-mnemonic``);
- ``keyfile``: a 32-byte file readable only by its owner (mode 0600) — development only.

Rotating the root key rewraps the data keys only; sealing drops every decrypted
secret from memory.
"""

import logging
import os
import stat
from dataclasses import dataclass
from typing import Any

import shamir_mnemonic

from skms._native import SecretBytes
from skms.crypto import kdf
from skms.errors import IntegrityError, InvalidInput, Sealed, UnsealFailed
from skms.keys import envelope
from skms.storage.base import KeyStore, SealRecord

log = logging.getLogger("skms.seal")

METHODS = ("passphrase", "shamir", "keyfile")
MIN_PASSPHRASE = 12


@dataclass(frozen=True)
class InitResult:
    """What the operator must keep: nothing for a passphrase they chose, the shares for shamir."""

    method: str
    shares: list[str] | None = None


def _passphrase_key(passphrase: str, params: dict[str, Any]) -> SecretBytes:
    return kdf.argon2id(
        passphrase.encode(),
        bytes.fromhex(params["salt"]),
        memory_kib=params["memory_kib"],
        iterations=params["iterations"],
        lanes=params["lanes"],
    )


def _read_keyfile(path: str) -> SecretBytes:
    try:
        info = os.stat(path)
        with open(path, "rb") as f:
            data = f.read(65)
    except OSError as e:
        raise UnsealFailed(f"cannot read the key file: {e.strerror}") from None
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise UnsealFailed(f"the key file {path} must be readable by its owner only (chmod 600)")
    if len(data) != 32:
        raise UnsealFailed("the key file must hold exactly 32 bytes")
    return SecretBytes(data)


def enough_shares(mnemonics: list[str]) -> list[str]:
    """Exactly ``threshold`` distinct shares when more of one set were given (SLIP-39 wants exactly)."""
    parsed: dict[object, str] = {}
    try:
        for mnemonic in mnemonics:
            parsed.setdefault(shamir_mnemonic.Share.from_mnemonic(mnemonic), mnemonic)  # a repeat counts once
    except (shamir_mnemonic.MnemonicError, ValueError):
        return mnemonics  # let combine_mnemonics name the problem
    groups = {share.group_parameters() for share in parsed}  # type: ignore[attr-defined]
    if len(groups) != 1:
        return list(parsed.values())
    return list(parsed.values())[: next(iter(groups)).member_threshold]


def write_keyfile(path: str) -> None:
    """Creates a new random key file with mode 0600 (development only)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(os.urandom(32))


class Sealer:
    """Holds the root key while unsealed. One per store per process."""

    def __init__(self, store: KeyStore) -> None:
        self._store = store
        # root id -> root key; two entries only while a root rotation is unfinished.
        self._roots: dict[int, SecretBytes] = {}
        self._root_id = 0
        # Kept while unsealed so that a root rotated by another node can be opened here too.
        self._opener: SecretBytes | None = None
        self._generation = -1
        self.on_seal: list[Any] = []

    @property
    def sealed(self) -> bool:
        return not self._roots

    def root(self) -> tuple[SecretBytes, int]:
        """The current root key (for wrapping new data keys) and its id."""
        if not self._roots:
            raise Sealed("the store is sealed: unseal it with POST /v1/sys/unseal or `skms operator unseal`")
        return self._roots[self._root_id], self._root_id

    def root_for(self, root_id: int) -> SecretBytes:
        """The root key that wrapped a data key."""
        if not self._roots:
            raise Sealed("the store is sealed: unseal it with POST /v1/sys/unseal or `skms operator unseal`")
        try:
            return self._roots[root_id]
        except KeyError:
            raise IntegrityError(f"no root key {root_id} is known: the data key is from another store") from None

    async def initialized(self) -> bool:
        return await self._store.get_seal() is not None

    async def initialize(
        self,
        method: str,
        *,
        passphrase: str | None = None,
        threshold: int = 3,
        shares: int = 5,
        keyfile: str | None = None,
    ) -> InitResult:
        """Creates the root key and the seal record; leaves the store unsealed."""
        unseal_key, params, result = self._new_unseal_key(method, passphrase, threshold, shares, keyfile)
        root = SecretBytes.random(32)
        record = SealRecord(method, params, envelope.wrap_root(unseal_key, 1, root), root_id=1)
        stored = await self._store.put_seal(record, expected_generation=None)
        self._roots, self._root_id = {1: root}, 1
        self._opener, self._generation = unseal_key, stored.generation
        return result

    def _new_unseal_key(
        self, method: str, passphrase: str | None, threshold: int, shares: int, keyfile: str | None
    ) -> tuple[SecretBytes, dict[str, Any], InitResult]:
        if method == "passphrase":
            if not passphrase or len(passphrase) < MIN_PASSPHRASE:
                raise InvalidInput(f"the unseal passphrase must have at least {MIN_PASSPHRASE} characters")
            params = {
                "salt": os.urandom(16).hex(),
                "memory_kib": kdf.ARGON2ID_MEMORY_KIB * 2,
                "iterations": kdf.ARGON2ID_ITERATIONS + 1,
                "lanes": kdf.ARGON2ID_LANES,
            }
            return _passphrase_key(passphrase, params), params, InitResult(method)
        if method == "shamir":
            if not 1 <= threshold <= shares <= 16:
                raise InvalidInput("shamir needs 1 <= threshold <= shares <= 16")
            unseal = SecretBytes.random(32)
            groups = shamir_mnemonic.generate_mnemonics(1, [(threshold, shares)], unseal.expose_secret())
            return unseal, {"threshold": threshold, "shares": shares}, InitResult(method, groups[0])
        if method == "keyfile":
            if not keyfile:
                raise InvalidInput("the keyfile method needs the path of a 32-byte key file")
            log.warning("unseal by key file is for development only: the file opens the whole store")
            return _read_keyfile(keyfile), {"path": keyfile}, InitResult(method)
        raise InvalidInput(f"unknown seal method {method!r}; expected one of {', '.join(METHODS)}")

    async def unseal(
        self, *, passphrase: str | None = None, shares: list[str] | None = None, keyfile: str | None = None
    ) -> None:
        record = await self._store.get_seal()
        if record is None:
            raise InvalidInput("the store is not initialized: run `skms init` first")
        unseal_key = self._unseal_key(record, passphrase, shares, keyfile)
        roots = self._open_roots(record, unseal_key)
        self._roots, self._root_id = roots, record.root_id
        self._opener, self._generation = unseal_key, record.generation

    async def refresh(self) -> bool:
        """Rereads the seal record after another node rotated the root; True when it changed."""
        if self._opener is None:
            return False
        record = await self._store.get_seal()
        if record is None or record.generation == self._generation:
            return False
        self._roots, self._root_id = self._open_roots(record, self._opener), record.root_id
        self._generation = record.generation
        return True

    @staticmethod
    def _open_roots(record: SealRecord, unseal_key: SecretBytes) -> dict[int, SecretBytes]:
        try:
            roots = {record.root_id: envelope.unwrap_root(unseal_key, record.root_id, record.wrapped_root)}
            for previous in record.params.get("previous", []):
                old_id = int(previous["root_id"])
                roots[old_id] = envelope.unwrap_root(unseal_key, old_id, bytes.fromhex(previous["wrapped_root"]))
        except IntegrityError:
            raise UnsealFailed("the unseal material does not open the root key") from None
        return roots

    def _unseal_key(
        self, record: SealRecord, passphrase: str | None, shares: list[str] | None, keyfile: str | None
    ) -> SecretBytes:
        if record.method == "passphrase":
            if not passphrase:
                raise UnsealFailed("this store unseals with a passphrase")
            return _passphrase_key(passphrase, record.params)
        if record.method == "shamir":
            if not shares:
                raise UnsealFailed(f"this store unseals with {record.params['threshold']} SLIP-39 shares")
            try:
                return SecretBytes(shamir_mnemonic.combine_mnemonics(enough_shares(shares)))
            except (shamir_mnemonic.MnemonicError, ValueError) as e:
                raise UnsealFailed(f"the shares do not combine: {e}") from None
        if record.method == "keyfile":
            configured = record.params["path"]
            if keyfile is not None and os.path.abspath(keyfile) != os.path.abspath(configured):
                # Never touch another path: the answer would tell a caller what exists on the server.
                raise UnsealFailed("this store unseals only with the key file it was initialized with")
            return _read_keyfile(configured)
        raise UnsealFailed(f"unknown seal method {record.method!r} in the store")

    def seal(self) -> None:
        """Forgets the root keys and calls every ``on_seal`` hook (cache purge)."""
        self._roots = {}
        self._opener = None
        self._generation = -1
        for hook in self.on_seal:
            hook()

    async def rotate_root(self, **unseal: Any) -> int:
        """A new root key: every data key is rewrapped; the unseal material stays the same.

        ``unseal`` is the current material (passphrase=…, shares=…, keyfile=…), proving the caller
        may. Crash-safe: the seal record first holds both roots, the data keys are rewrapped, then
        the old root is dropped; a rotation cut short is finished by the next one.
        """
        record = await self._store.get_seal()
        if record is None:
            raise InvalidInput("the store is not initialized")
        self.root()
        unseal_key = self._unseal_key(record, unseal.get("passphrase"), unseal.get("shares"), unseal.get("keyfile"))
        roots = self._open_roots(record, unseal_key)
        old_id = record.root_id
        new_id, new_root = old_id + 1, SecretBytes.random(32)
        roots[new_id] = new_root
        # Every root some data key may still be wrapped with (more than one after a cut-short rotation).
        previous = [
            {"root_id": rid, "wrapped_root": envelope.wrap_root(unseal_key, rid, root).hex()}
            for rid, root in roots.items()
            if rid != new_id
        ]
        both = {**{k: v for k, v in record.params.items() if k != "previous"}, "previous": previous}
        record = await self._store.put_seal(
            SealRecord(record.method, both, envelope.wrap_root(unseal_key, new_id, new_root), new_id),
            expected_generation=record.generation,
        )
        self._roots, self._root_id, self._generation = roots, new_id, record.generation
        after: str | None = None
        while batch := await self._store.all_keys(after, 500):
            updates = []
            for key in batch:
                if key.root_id != new_id:
                    dek = envelope.unwrap_dek(
                        self.root_for(key.root_id), key.root_id, key.tenant, key.id, key.wrapped_dek
                    )
                    updates.append((key.id, envelope.wrap_dek(new_root, new_id, key.tenant, key.id, dek), new_id))
            if updates:
                await self._store.rewrap_deks(updates)
            after = batch[-1].id
        # Retired roots stay in the record (wrapped by the unseal key): a node that has not yet
        # seen this rotation may still wrap new data keys with one of them.
        final = await self._store.put_seal(
            SealRecord(record.method, record.params, record.wrapped_root, new_id), expected_generation=record.generation
        )
        self._roots = roots
        self._generation = final.generation
        return new_id
