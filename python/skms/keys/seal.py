"""The seal: how the root key is protected at rest, and how it is opened.

The root key (KEK, 32 random bytes) is stored only wrapped by an *unseal key*,
obtained one of three ways:

- ``passphrase``: Argon2id over a passphrase (parameters stored with the seal);
- ``shamir``: M-of-N SLIP-39 mnemonic shares of the unseal key (``shamir-mnemonic``);
- ``keyfile``: a 32-byte file readable only by its owner (mode 0600) — development only. Its
  path is server configuration, never request input: the server reads it at start; over the
  network a caller unseals by sending the file's 32 bytes, like a passphrase.
- ``pkcs11``: a random unseal key stored only wrapped (AES-KWP) by a non-extractable AES-256 key
  in an HSM token (:mod:`skms.hsm`); the server unseals itself at start (auto-unseal). The
  unseal key, not the token key, wraps the roots: AES-GCM bound to each root's id, which KWP
  alone would not bind. See :meth:`Sealer.auto_unseal` for an operator's seal of such a store.
- ``transit``: a random unseal key stored only encrypted by an ``aes256-gcm`` key on another SKMS
  server (:mod:`skms.keys.transit`, server configuration only); auto-unseal at start, as ``pkcs11``.

Rotating the root key rewraps the data keys only (:meth:`Sealer.rotate_root`, or
:meth:`Sealer.rotate_root_held` for an authorized API caller); retired roots are kept while a
node may still use them and dropped once no key row does (:meth:`Sealer.prune_roots`). Sealing
drops every decrypted secret from memory. An operator's seal is recorded in the store, so a restart does not undo it
with the configured key file: it holds until unseal material is presented.

Unsealing costs a KDF (Argon2id about 0.1–1 s, SLIP-39's PBKDF2 tens of ms): it runs on one
thread of its own, never on the event loop, one attempt at a time, and failed attempts back off
per source address and globally (:class:`UnsealThrottle`).
"""

import asyncio
import gc
import logging
import math
import os
import stat
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import shamir_mnemonic

from skms._native import SecretBytes
from skms.context import CURRENT
from skms.crypto import kdf
from skms.crypto.memory import take, wipe
from skms.crypto.random import random_secret, random_secret_async
from skms.errors import Conflict, IntegrityError, InvalidInput, RateLimited, Sealed, UnsealFailed
from skms.keys import envelope
from skms.storage.base import KeyStore, SealRecord

log = logging.getLogger("skms.seal")

METHODS = ("passphrase", "shamir", "keyfile", "pkcs11", "transit")
MIN_PASSPHRASE = 12
KEYFILE_BYTES = 32
#: Marks, in the seal record's parameters, a seal an operator asked for (time of the seal).
OPERATOR_SEALED = "operator_sealed_at"
#: The label of the token's AES-256 wrapping key of a pkcs11 seal, unless ``skms init`` names one.
DEFAULT_HSM_KEY_LABEL = "skms-seal"
#: Seconds a retired root stays in the seal record after a rotation, whatever the key rows say:
#: a node that has not reread the record yet may still wrap new data keys with it. Nodes reread
#: it at least every scheduler period (30 s), well within this.
ROOT_GRACE_SECONDS = 600.0

T = TypeVar("T")
#: Unseal KDFs run on one thread of their own: one at a time, off the event loop. One per process:
#: a server worker forked from a parent that used it must not inherit a pool whose thread is gone.
_kdf_pool: tuple[int, ThreadPoolExecutor] | None = None


async def off_loop(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on the unseal KDF thread."""
    global _kdf_pool
    if _kdf_pool is None or _kdf_pool[0] != os.getpid():
        _kdf_pool = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="skms-unseal-kdf"))
    return await asyncio.get_running_loop().run_in_executor(_kdf_pool[1], fn, *args)


class UnsealThrottle:
    """Backs off failed unseal attempts, per source address and across all sources.

    After the n-th failure in a row from one source, that source waits ``base * 2**(n-1)``
    seconds (at most ``max_delay``); past ``free_failures`` failures in a row from anywhere,
    every source waits the same way, so many addresses do not multiply an attacker's guesses.
    Only one attempt derives a key at a time; another arriving meanwhile is told to retry.
    A success clears everything.
    """

    MAX_SOURCES = 10_000

    def __init__(
        self,
        *,
        base: float = 1.0,
        max_delay: float = 60.0,
        free_failures: int = 5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base, self.max_delay, self.free_failures, self.clock = base, max_delay, free_failures, clock
        self._sources: dict[str, tuple[int, float]] = {}  # source -> (failures in a row, not before)
        self._failures = 0
        self._not_before = 0.0
        self.busy = False

    def _delay(self, failures: int) -> float:
        return float(min(self.max_delay, self.base * 2 ** min(failures - 1, 32)))

    def admit(self, source: str) -> None:
        now = self.clock()
        wait = max(self._not_before, self._sources.get(source, (0, 0.0))[1]) - now
        if wait > 0:
            raise RateLimited(f"too many failed unseal attempts: retry in {math.ceil(wait)} s", retry_after=wait)
        if self.busy:
            raise RateLimited("another unseal attempt is in progress: retry shortly", retry_after=1.0)

    def failed(self, source: str) -> None:
        now = self.clock()
        failures = self._sources.get(source, (0, 0.0))[0] + 1
        if source not in self._sources and len(self._sources) >= self.MAX_SOURCES:
            self._sources = {k: v for k, v in self._sources.items() if v[1] > now}  # forget expired ones
            if len(self._sources) >= self.MAX_SOURCES:
                self._sources.pop(next(iter(self._sources)))
        self._sources[source] = (failures, now + self._delay(failures))
        self._failures += 1
        if self._failures > self.free_failures:
            self._not_before = now + self._delay(self._failures - self.free_failures)

    def succeeded(self) -> None:
        self._sources.clear()
        self._failures = 0
        self._not_before = 0.0


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
    """The configured key file (server configuration only, never a path from a request)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        raise UnsealFailed(f"cannot read the key file: {e.strerror}") from None
    # Unbuffered, into a buffer wiped afterwards: no copy of the unseal key stays in this process.
    buffer = bytearray(KEYFILE_BYTES + 1)
    try:
        with os.fdopen(fd, "rb", buffering=0) as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise UnsealFailed(f"the key file {path} is not a regular file")
            if stat.S_IMODE(info.st_mode) & 0o077:
                raise UnsealFailed(f"the key file {path} must be readable by its owner only (chmod 600)")
            length = f.readinto(buffer)
        if length != KEYFILE_BYTES:
            raise UnsealFailed(f"the key file must hold exactly {KEYFILE_BYTES} bytes")
        return SecretBytes(memoryview(buffer)[:KEYFILE_BYTES])
    finally:
        wipe(buffer)


def refused_for_form(message: str) -> UnsealFailed:
    """An unseal request refused for its form (no material, the wrong kind, too few shares, another
    store's shares) before any secret was tried: it costs no KDF and does not count as a failure."""
    error = UnsealFailed(message)
    error.tried_a_secret = False  # type: ignore[attr-defined]
    return error


def share_identifier(mnemonic: str) -> int | None:
    """The SLIP-39 identifier of a share's set, or None when the share does not parse."""
    try:
        return int(shamir_mnemonic.Share.from_mnemonic(mnemonic).identifier)
    except (shamir_mnemonic.MnemonicError, ValueError):
        return None


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
        self.throttle = UnsealThrottle()
        #: The server's HSM (an :class:`skms.hsm.Hsm`), for the pkcs11 method; None without one.
        self.hsm: Any = None
        #: The server's transit seal (a :class:`skms.keys.transit.TransitSeal`); None without one.
        self.transit: Any = None
        self._rotating = asyncio.Lock()

    @property
    def sealed(self) -> bool:
        return not self._roots

    def has_root(self, root_id: int) -> bool:
        """Whether this node holds root key ``root_id`` (False: sealed, or another node rotated it in)."""
        return root_id in self._roots

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
        key_label: str | None = None,
    ) -> InitResult:
        """Creates the root key and the seal record; leaves the store unsealed.

        Conflict, before any other work, when the store is initialized already. ``keyfile`` is
        the server's configured path (development), never a path a request named. ``key_label``
        (pkcs11) names the token's wrapping key, made when missing.
        """
        if await self._store.get_seal() is not None:
            raise Conflict("the store is already initialized")
        if key_label is not None and method != "pkcs11":
            raise InvalidInput("key_label names the HSM key of the pkcs11 method only", field="key_label")
        if method == "pkcs11":
            unseal_key, params, result = await self._new_hsm_unseal_key(key_label or DEFAULT_HSM_KEY_LABEL)
        else:
            unseal_key, params, result = await off_loop(
                self._new_unseal_key, method, passphrase, threshold, shares, keyfile
            )
        root = await random_secret_async(32)  # hsm_random: the token's generator mixed in
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
            unseal = random_secret(32)  # on the KDF thread: a token source may block here
            groups = shamir_mnemonic.generate_mnemonics(1, [(threshold, shares)], unseal.expose_secret())
            identifier = share_identifier(groups[0][0])
            return (
                unseal,
                {"threshold": threshold, "shares": shares, "identifier": identifier},
                InitResult(method, groups[0]),
            )
        if method == "keyfile":
            if not keyfile:
                raise InvalidInput("the keyfile method needs the server's configured key file (unseal_keyfile)")
            log.warning("unseal by key file is for development only: the file opens the whole store")
            return _read_keyfile(keyfile), {"path": keyfile}, InitResult(method)
        if method == "transit":
            return self._new_transit_unseal_key()
        raise InvalidInput(f"unknown seal method {method!r}; expected one of {', '.join(METHODS)}")

    # -- pkcs11: the unseal key wrapped by a token key ---------------------------------------------

    def _require_hsm(self) -> Any:
        if self.hsm is None:
            raise InvalidInput(
                "the pkcs11 seal needs the server's HSM settings: hsm_module, hsm_token_label or "
                "hsm_token_serial, and hsm_pin_env or hsm_pin_file"
            )
        return self.hsm

    async def _new_hsm_unseal_key(self, label: str) -> tuple[SecretBytes, dict[str, Any], InitResult]:
        """A new random unseal key wrapped by the token's AES-256 key ``label`` (made when missing:
        sensitive, not extractable, wrap and unwrap only)."""
        from pkcs11 import MechanismFlag

        from skms.errors import HsmKeyNotFound
        from skms.hsm import KeyKind

        hsm = self._require_hsm()
        try:
            ref = await hsm.find_key(label=label)
        except HsmKeyNotFound:
            flags = MechanismFlag.WRAP | MechanismFlag.UNWRAP
            ref = await hsm.generate_aes_key(label, os.urandom(16), capabilities=flags)
            log.info("hsm: made the seal's wrapping key", extra={"fields": {"label": label}})
        if ref.kind is not KeyKind.AES_256:
            raise InvalidInput(f"the token's key {label!r} is {ref.kind}, not AES-256: name another", field="key_label")
        unseal_key = await random_secret_async(32)
        wrapped = await hsm.wrap_secret(ref, unseal_key)
        # A key that wraps but cannot unwrap would lock the store out at the next start: check now.
        if await hsm.unwrap_secret(ref, wrapped) != unseal_key:
            raise UnsealFailed(f"the token's key {label!r} does not unwrap what it wrapped")
        params = {"key_label": label, "key_id": ref.id.hex(), "wrapped_unseal_key": wrapped.hex()}
        return unseal_key, params, InitResult("pkcs11")

    async def _hsm_unseal_key(self, record: SealRecord) -> SecretBytes:
        """The unseal key of a pkcs11 store, unwrapped by the token. Errors say which part failed:
        the settings, the token or its PIN (an HsmError's own message), the wrapping key."""
        from skms.errors import HsmError, HsmKeyNotFound
        from skms.hsm import KeyKind, KeyRef

        hsm = self._require_hsm()
        label = str(record.params["key_label"])
        ref = KeyRef(KeyKind.AES_256, label, bytes.fromhex(record.params["key_id"]))
        try:
            return cast(SecretBytes, await hsm.unwrap_secret(ref, bytes.fromhex(record.params["wrapped_unseal_key"])))
        except HsmKeyNotFound:
            raise UnsealFailed(
                f"the seal's wrapping key {label!r} (id {ref.id.hex()}) is not on the HSM token "
                f"{hsm.config.token_name}: the store cannot be unsealed without it"
            ) from None
        except HsmError as e:
            raise UnsealFailed(f"the HSM did not open the store's unseal key: {e}") from None

    async def auto_unseal(self, *, lift_operator_seal: bool = False) -> bool:
        """The server's own unseal of a pkcs11 store from its HSM, at start; False when the store is
        not a pkcs11 one or an operator's seal holds.

        An operator's seal (POST /v1/sys/seal) is recorded in the store and holds across restarts,
        so a supervisor restarting a crashed server never undoes it. Nothing over the network lifts
        it (no unseal material exists to send): the operator runs ``skms operator lift-seal`` where
        the server's HSM settings are (``lift_operator_seal=True``: proves the token opens the store,
        then clears the mark) and restarts the server.
        """
        record = await self._store.get_seal()
        if record is None or record.method not in ("pkcs11", "transit"):  # transit: the same, by another server
            return False
        if OPERATOR_SEALED in record.params and not lift_operator_seal:
            log.warning(
                "the store was sealed by an operator: it stays sealed until `skms operator lift-seal` "
                "and a restart of the server"
            )
            return False
        if not self.sealed:
            return True
        if record.method == "transit":
            unseal_key = await off_loop(self._transit_unseal_key, record)
            # The call can take seconds (a retry while the transit server comes back): an operator
            # may have sealed the store through another node meanwhile. Then it stays sealed.
            latest = await self._store.get_seal()
            if latest is None or (OPERATOR_SEALED in latest.params and not lift_operator_seal):
                log.warning("the store was sealed by an operator during the auto-unseal: it stays sealed")
                return False
        else:
            unseal_key = await self._hsm_unseal_key(record)
        self._roots, self._root_id = self._open_roots(record, unseal_key), record.root_id
        self._opener, self._generation = unseal_key, record.generation
        if OPERATOR_SEALED in record.params:
            await self._set_operator_seal(False)
        return True

    async def unseal(
        self,
        *,
        passphrase: str | None = None,
        shares: list[str] | None = None,
        key: bytes | None = None,
        keyfile: str | None = None,
    ) -> None:
        """Opens the root key with the material of the store's method.

        ``key`` is the content of a key-file store's file (what a remote operator sends);
        ``keyfile`` is a local path, for the server's own start and library callers only.
        Nothing is derived when already unsealed. Failed attempts back off (UnsealThrottle).
        """
        record = await self._store.get_seal()
        if record is None:
            raise InvalidInput("the store is not initialized: run `skms init` first")
        if not self.sealed:
            return
        # Attempts from the network are throttled per source; the server's own start and
        # library callers in the same process (no request source) are not.
        source = CURRENT.get().source or ""
        if source and record.method == "transit":
            # Nothing to send: the server asks its transit server itself, at start and then retrying.
            # Over the network that would undo an operator's seal for anyone: see auto_unseal.
            raise refused_for_form("this store unseals itself through its transit server (auto-unseal)")
        throttle = self.throttle if source else None
        if throttle is not None:
            throttle.admit(source)
            throttle.busy = True
        try:
            unseal_key = await off_loop(self._unseal_key, record, passphrase, shares, key, keyfile)
            roots = self._open_roots(record, unseal_key)
        except UnsealFailed as e:
            if throttle is not None and getattr(e, "tried_a_secret", True):
                throttle.failed(source)
                # Sealed, the audit log cannot take a record: the server log keeps the try (bounded
                # by the back-off), never the material.
                log.warning("failed unseal attempt", extra={"fields": {"source": source, "method": record.method}})
            raise
        finally:
            if throttle is not None:
                throttle.busy = False
        if throttle is not None:
            throttle.succeeded()
        self._roots, self._root_id = roots, record.root_id
        self._opener, self._generation = unseal_key, record.generation
        if OPERATOR_SEALED in record.params:
            await self._set_operator_seal(False)

    async def unseal_at_start(self, keyfile: str) -> bool:
        """The server's own unseal from its configured key file; False when an operator's seal holds."""
        record = await self._store.get_seal()
        if record is None:
            return False
        if OPERATOR_SEALED in record.params:
            log.warning("the store was sealed by an operator: it stays sealed until unsealed with its material")
            return False
        await self.unseal(keyfile=keyfile)
        return True

    async def seal_by_operator(self) -> None:
        """An operator's seal: recorded in the store (a restart does not undo it), then :meth:`seal`."""
        self.seal()
        await self._set_operator_seal(True)

    async def _set_operator_seal(self, sealed: bool) -> None:
        for _ in range(5):  # another node may rewrite the record meanwhile
            record = await self._store.get_seal()
            if record is None or (OPERATOR_SEALED in record.params) == sealed:
                return
            params = {k: v for k, v in record.params.items() if k != OPERATOR_SEALED}
            if sealed:
                params[OPERATOR_SEALED] = time.time()
            try:
                stored = await self._store.put_seal(
                    SealRecord(record.method, params, record.wrapped_root, record.root_id),
                    expected_generation=record.generation,
                )
            except Conflict:
                continue
            if not self.sealed:
                self._generation = stored.generation
            return

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
        self,
        record: SealRecord,
        passphrase: str | None,
        shares: list[str] | None,
        key: bytes | None,
        keyfile: str | None,
    ) -> SecretBytes:
        if record.method == "pkcs11":
            raise refused_for_form(
                "this store unseals itself from its HSM when the server starts; after an operator's seal, "
                "run `skms operator lift-seal` with the server's HSM settings and restart the server"
            )
        given = [name for name, value in (("passphrase", passphrase), ("shares", shares), ("key", key)) if value]
        expected = {"passphrase": "passphrase", "shamir": "shares", "keyfile": "key"}.get(record.method)
        if any(name != expected for name in given):
            raise refused_for_form(f"this store unseals with its {record.method} ({expected}), not {', '.join(given)}")
        if record.method == "passphrase":
            if not passphrase:
                raise refused_for_form("this store unseals with a passphrase")
            return _passphrase_key(passphrase, record.params)
        if record.method == "shamir":
            if not shares:
                raise refused_for_form(f"this store unseals with {record.params['threshold']} SLIP-39 shares")
            identifier = record.params.get("identifier")
            if identifier is not None and any(share_identifier(m) not in (identifier, None) for m in shares):
                raise refused_for_form("a share belongs to another store (its SLIP-39 set identifier differs)")
            chosen = enough_shares(shares)
            threshold = int(record.params["threshold"])
            if len(set(chosen)) < threshold:
                raise refused_for_form(f"this store unseals with {threshold} distinct shares, {len(set(chosen))} given")
            try:
                return take(shamir_mnemonic.combine_mnemonics(chosen))
            except (shamir_mnemonic.MnemonicError, ValueError) as e:
                raise UnsealFailed(f"the shares do not combine: {e}") from None
        if record.method == "keyfile":
            if key is not None:
                if len(key) != KEYFILE_BYTES:
                    raise refused_for_form(f"the key of a key-file store is its file's {KEYFILE_BYTES} bytes")
                return SecretBytes(key)
            if keyfile is None:
                raise refused_for_form("this store unseals with its key file: send the file's 32 bytes as key")
            configured = record.params["path"]
            if os.path.abspath(keyfile) != os.path.abspath(configured):
                raise UnsealFailed("this store unseals only with the key file it was initialized with")
            return _read_keyfile(configured)
        if record.method == "transit":
            return self._transit_unseal_key(record)
        raise UnsealFailed(f"unknown seal method {record.method!r} in the store")

    # -- transit: the unseal key encrypted by another SKMS server (skms.keys.transit) -----------------

    def _require_transit(self) -> Any:
        if self.transit is None:
            raise InvalidInput(
                "the transit seal needs the server's transit settings: transit_address, transit_key, and "
                "transit_token_env or transit_token_file"
            )
        return self.transit

    def _new_transit_unseal_key(self) -> tuple[SecretBytes, dict[str, Any], InitResult]:
        from skms.keys.transit import seal_aad

        transit = self._require_transit()
        unseal_key, seal_id = random_secret(32), os.urandom(16).hex()  # on the KDF thread
        wrapped = transit.wrap(unseal_key, seal_aad(seal_id))
        # A ciphertext the server cannot open would lock the store out at the next start: check now.
        if transit.unwrap(wrapped, seal_aad(seal_id)) != unseal_key:
            raise UnsealFailed("the transit server does not decrypt what it encrypted")
        params = {"address": transit.config.base, "key": transit.config.key, "seal_id": seal_id,
                  "wrapped_unseal_key": wrapped}  # fmt: skip
        return unseal_key, params, InitResult("transit")

    def _transit_unseal_key(self, record: SealRecord) -> SecretBytes:
        """The unseal key of a transit store, decrypted by the configured transit server (blocking)."""
        from skms.keys.transit import seal_aad

        transit = self._require_transit()
        if transit.config.key != record.params["key"]:
            raise UnsealFailed(
                f"this store was sealed with the transit key {record.params['key']!r}; the server is configured "
                f"with {transit.config.key!r}"
            )
        unseal_key: SecretBytes = transit.unwrap(
            str(record.params["wrapped_unseal_key"]), seal_aad(str(record.params["seal_id"]))
        )
        return unseal_key

    def seal(self) -> None:
        """Forgets the root keys and calls every ``on_seal`` hook (cache purge).

        Every secret is a SecretBytes, wiped when its last reference goes; a collection then
        frees those only garbage cycles still held (a key object in a dropped traceback or closure).
        """
        self._roots = {}
        self._opener = None
        self._generation = -1
        for hook in self.on_seal:
            hook()
        gc.collect()

    async def rotate_root(self, **unseal: Any) -> int:
        """A new root key: every data key is rewrapped; the unseal material stays the same.

        ``unseal`` is the current material (passphrase=…, shares=…, keyfile=…), proving the caller
        may; a pkcs11 store takes none (the token is the proof). See :meth:`rotate_root_held`.
        """
        record = await self._store.get_seal()
        if record is None:
            raise InvalidInput("the store is not initialized")
        self.root()
        if record.method == "pkcs11":
            unseal_key = await self._hsm_unseal_key(record)
        else:
            unseal_key = await off_loop(
                self._unseal_key,
                record,
                unseal.get("passphrase"),
                unseal.get("shares"),
                unseal.get("key"),
                unseal.get("keyfile"),
            )
        return await self._rotate(unseal_key)

    async def rotate_root_held(self) -> int:
        """:meth:`rotate_root` with the unseal key this process holds while unsealed: for a caller
        the API already authorized (``sys:RotateRoot``), who has no unseal material to show."""
        self.root()
        if self._opener is None:
            raise Sealed("this process does not hold the unseal key: unseal it again, then rotate")
        return await self._rotate(self._opener)

    async def _rotate(self, unseal_key: SecretBytes) -> int:
        """Crash-safe: the seal record first holds the new root and every older one, then the data
        keys are rewrapped; a rotation cut short is finished by the next one. Retired roots stay in
        the record (wrapped by the unseal key) until :meth:`prune_roots` finds them unused."""
        async with self._rotating:
            record = await self._store.get_seal()
            if record is None:
                raise InvalidInput("the store is not initialized")
            roots = self._open_roots(record, unseal_key)
            now = time.time()
            retired = {int(p["root_id"]): float(p.get("retired_at", now)) for p in record.params.get("previous", [])}
            retired[record.root_id] = now
            new_id, new_root = max(roots) + 1, await random_secret_async(32)
            previous = [
                {
                    "root_id": rid,
                    "wrapped_root": envelope.wrap_root(unseal_key, rid, root).hex(),
                    "retired_at": retired[rid],
                }
                for rid, root in roots.items()
            ]
            roots[new_id] = new_root
            params = {**{k: v for k, v in record.params.items() if k != "previous"}, "previous": previous}
            # Conflict when another node rotates (or seals) at the same moment: the caller retries.
            record = await self._store.put_seal(
                SealRecord(record.method, params, envelope.wrap_root(unseal_key, new_id, new_root), new_id),
                expected_generation=record.generation,
            )
            self._roots, self._root_id, self._generation = roots, new_id, record.generation
            self._opener = unseal_key
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
            log.info("root key rotated", extra={"fields": {"root_id": new_id, "retired": sorted(retired)}})
        await self.prune_roots()
        return new_id

    async def prune_roots(self, grace: float = ROOT_GRACE_SECONDS) -> list[int]:
        """Drops from the seal record the retired roots no key row uses, once ``grace`` seconds have
        passed since their retirement (a node that has not seen the rotation may still wrap new data
        keys with its old root until it rereads the record: every scheduler period). Returns their ids.
        Run after each rotation and by the server's scheduler."""
        record = await self._store.get_seal()
        if record is None or not record.params.get("previous"):
            return []
        now = time.time()
        candidates = {
            int(p["root_id"]) for p in record.params["previous"] if now - float(p.get("retired_at", 0.0)) >= grace
        }
        after: str | None = None
        while candidates and (batch := await self._store.all_keys(after, 1000)):
            candidates -= {key.root_id for key in batch}
            after = batch[-1].id
        if not candidates:
            return []
        previous = [p for p in record.params["previous"] if int(p["root_id"]) not in candidates]
        params = {**{k: v for k, v in record.params.items() if k != "previous"}, "previous": previous}
        try:
            stored = await self._store.put_seal(
                SealRecord(record.method, params, record.wrapped_root, record.root_id),
                expected_generation=record.generation,
            )
        except Conflict:
            return []  # the record changed meanwhile: the next run decides again
        if not self.sealed and self._root_id == record.root_id:
            self._roots = {rid: root for rid, root in self._roots.items() if rid not in candidates}
            self._generation = stored.generation
        log.info("retired root keys dropped", extra={"fields": {"root_ids": sorted(candidates)}})
        return sorted(candidates)

    # -- the unseal relay between the workers of one server (skms.api.relay) -----------------------

    def held(self) -> tuple[dict[int, SecretBytes], int, SecretBytes | None]:
        """(root keys by id, the current id, the unseal key) while unsealed; for the relay only."""
        return dict(self._roots), self._root_id, self._opener

    def adopt(self, roots: dict[int, SecretBytes], current: int, opener: SecretBytes | None) -> None:
        """Takes the root keys another worker of this server published (after an unseal or a rotation)."""
        if current not in roots:
            raise IntegrityError("the relayed root keys lack the current one")
        if not self.sealed and current < self._root_id:
            return  # older news: this worker already reread a later rotation from the store
        self._roots, self._root_id = dict(roots), current
        if opener is not None:
            self._opener = opener
        self._generation = -1  # the next refresh rereads the record
