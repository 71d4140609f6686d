"""One PKCS#11 token, used through a bounded pool of logged-in sessions, off the event loop.

* The library is loaded and ``C_Initialize``\\d once per process (:func:`library`); a process
  forked after that initialises it again, as PKCS#11 requires of a child.
* PKCS#11 login is per token and per *application*: one "anchor" session logs in, and every
  pool session opened after it is logged in too. The anchor is never used for operations and
  stays open (closing it would log every session out).
* Blocking calls run on a few threads of this process (as many as sessions; :class:`Workers`),
  started on first use and keyed by ``os.getpid()`` with everything else, so a forked worker
  never uses its parent's threads or sessions. They hand results back to the event loop in
  batches: one wake-up of the loop for all the calls that finished meanwhile.
* Any :class:`~skms.errors.HsmUnavailable` (token removed, sessions closed, library not
  initialised, login lost) drops every session; the next call re-initialises the library when
  the failure may have left it stale, finds the token again and logs in again. Calls that
  change nothing (sign, verify, encrypt, decrypt, wrap, find, random) are retried once on fresh
  sessions, so a token that came back serves them without an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as px

from skms._native import SecretBytes, wipe
from skms.crypto.asymmetric import rsa_oaep_decode
from skms.errors import (
    HsmConfigError,
    HsmError,
    HsmIntegrityError,
    HsmKeyExists,
    HsmKeyNotFound,
    HsmOperationRefused,
    HsmPinIncorrect,
    HsmPinLocked,
    HsmTokenNotFound,
    HsmUnavailable,
    InvalidInput,
)
from skms.hsm.ckr import hsm_error
from skms.hsm.config import HsmConfig
from skms.hsm.kinds import (
    RSA_OAEP_SHA256,
    KeyKind,
    KeyPair,
    KeyRef,
    check_label_id,
    default_signing,
    keypair_capabilities,
    keypair_templates,
    kind_of,
    low_s,
    public_key_der,
)

T = TypeVar("T")
log = logging.getLogger("skms.hsm")

#: Largest single C_GenerateRandom request.
RANDOM_MAX = 1 << 16
_GCM_IV = 12
_GCM_TAG_BITS = 128


# --- the library, once per process -------------------------------------------------------------


@dataclass
class _Library:
    path: str
    pid: int
    lib: Any
    #: Bumped at each re-initialisation: a pool that saw an older one knows its sessions are gone.
    generation: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Held around every call into the module unless the HsmConfig says it is ``parallel``:
    #: python-pkcs11 initialises it with C_Initialize(NULL), which promises the module that no
    #: two threads call it at once (SoftHSM2 then runs without locks, and fails under concurrency).
    calls: threading.RLock = field(default_factory=threading.RLock)

    def reinitialize(self, seen: int) -> None:
        """C_Finalize + C_Initialize, unless someone already did it since generation ``seen``."""
        with self.lock, self.calls:
            if self.generation != seen:
                return
            _restart(self.lib)
            self.generation += 1


def _restart(lib: Any) -> None:
    """C_Finalize (its error ignored: python-pkcs11 marks the library finalised anyway) and C_Initialize."""
    with contextlib.suppress(px.PKCS11Error):
        lib.finalize()
    lib.initialize()


_LIBRARIES: dict[str, _Library] = {}
_LIBRARIES_LOCK = threading.Lock()


def _after_fork_in_child() -> None:
    global _LIBRARIES_LOCK
    _LIBRARIES_LOCK = threading.Lock()  # a parent's thread may have held it at fork


os.register_at_fork(after_in_child=_after_fork_in_child)


def library(path: str) -> _Library:
    """The PKCS#11 library at ``path``, loaded and initialised in this process."""
    pid = os.getpid()
    with _LIBRARIES_LOCK:
        found = _LIBRARIES.get(path)
        if found is not None and found.pid == pid:
            return found
        try:
            lib = pkcs11.lib(path)  # python-pkcs11 caches one per path, across fork too
            if found is not None:  # forked: the child must initialise the library itself
                _restart(lib)
        except px.PKCS11Error as e:
            detail = str(e) if "loading" in str(e) else type(e).__name__
            raise HsmConfigError(f"HSM: cannot load the PKCS#11 library {path}: {detail}") from None
        made = _Library(path, pid, lib)
        _LIBRARIES[path] = made
        return made


# --- the pool ---------------------------------------------------------------------------------


@dataclass(eq=False)
class PooledSession:
    """A pool session: the python-pkcs11 session, its generation and its key-handle cache."""

    session: Any
    generation: int
    epoch: int
    keys: dict[tuple[Any, ...], Any] = field(default_factory=dict)


class _State:
    """Everything of one Hsm that belongs to one process."""

    def __init__(self, config: HsmConfig) -> None:
        self.pid = os.getpid()
        self.config = config
        self.cond = threading.Condition()
        self.token: Any = None
        self.anchor: Any = None
        self.idle: list[PooledSession] = []
        self.total = 0
        self.generation = 0
        #: Bumped when a key is destroyed: sessions drop their cached handles.
        self.key_epoch = 0
        self.broken = False
        self.lib_generation = 0
        self.library: _Library | None = None
        self.workers: Workers | None = None
        self.closed = False


class Hsm:
    """A PKCS#11 token used by SKMS. Create one per configuration; it is safe to share between
    threads and tasks, and to create before workers fork (each process gets its own sessions).

    ``await hsm.run(fn)`` runs ``fn(session)`` with a logged-in python-pkcs11 session on the
    pool's threads; :meth:`call` does the same in the calling thread. The typed helpers below
    cover what SKMS needs. Every error is a :class:`~skms.errors.HsmError` subclass.
    """

    def __init__(self, config: HsmConfig) -> None:
        if not isinstance(config, HsmConfig):
            raise InvalidInput("Hsm takes an HsmConfig")
        self.config = config
        self._lock = threading.Lock()
        self._state: _State | None = None
        #: How this token decrypts SKMS's RSA-OAEP: None until the first call finds out.
        self._oaep: str | None = None

    def __repr__(self) -> str:
        return f"Hsm(module={self.config.module!r}, token {self.config.token_name})"

    # -- process state -------------------------------------------------------------------------

    def _st(self) -> _State:
        state = self._state
        if state is not None and state.pid == os.getpid():
            return state
        with self._lock:
            if self._state is None or self._state.pid != os.getpid():
                self._state = _State(self.config)  # a forked child starts afresh
            return self._state

    def _workers(self) -> Workers:
        st = self._st()
        if st.workers is None:
            with st.cond:
                if st.closed:
                    raise HsmUnavailable("HSM: the pool is closed")
                if st.workers is None:
                    st.workers = Workers(self.config.sessions)
        return st.workers

    def _open_locked(self, st: _State) -> None:
        """Finds the token and logs in, if not done yet (called with ``st.cond`` held)."""
        if st.closed:
            raise HsmUnavailable("HSM: the pool is closed")
        if st.token is not None:
            return
        lib = library(self.config.module)
        st.library = lib
        try:
            if st.broken:
                # After a failure the library may hold a stale view of the token (SoftHSM2 does):
                # start it again, unless another pool of this process just did.
                lib.reinitialize(st.lib_generation)
            st.lib_generation = lib.generation
            with self._serial():
                token = self._find_token(lib.lib)
                st.anchor = self._login(token)
        except px.PKCS11Error as e:
            st.broken = True  # the next call starts the library again: a token plugged in later is seen
            raise hsm_error(e, f"opening the token with {self.config.token_name}") from None
        except HsmTokenNotFound:
            st.broken = True
            raise
        st.token = token
        st.broken = False
        log.info("hsm: logged in to the token", extra={"fields": {"token": self.config.token_name}})

    def _find_token(self, lib: Any) -> Any:
        if self.config.token_label is not None:
            found = list(lib.get_tokens(token_label=self.config.token_label))
        else:
            found = list(lib.get_tokens(token_serial=self.config.token_serial.encode()))  # type: ignore[union-attr]
        if len(found) == 1:
            return found[0]
        labels = sorted(repr(t.label) for t in lib.get_tokens())
        if not found:
            raise HsmTokenNotFound(
                f"HSM: no token with {self.config.token_name} in {self.config.module}; "
                f"tokens present: {', '.join(labels) or 'none'}"
            )
        raise HsmTokenNotFound(f"HSM: {len(found)} tokens have {self.config.token_name}: name it by serial")

    def _login(self, token: Any) -> Any:
        pin = self.config.read_pin()
        try:
            return token.open(rw=True, user_pin=pin)
        except px.UserAlreadyLoggedIn:
            # Another pool of this process logged in to this token: login is per application.
            return token.open(rw=True)
        finally:
            del pin  # python-pkcs11 takes a str: this reference is the only one SKMS holds

    def _acquire(self) -> PooledSession:
        st = self._st()
        with st.cond:
            while True:
                self._open_locked(st)
                while st.idle:
                    pooled = st.idle.pop()
                    if pooled.generation == st.generation:
                        if pooled.epoch != st.key_epoch:
                            pooled.keys.clear()
                            pooled.epoch = st.key_epoch
                        return pooled
                    st.total -= 1
                    self._close_quietly(pooled.session)
                if st.total < self.config.sessions:
                    st.total += 1
                    token, generation, epoch = st.token, st.generation, st.key_epoch
                    break
                st.cond.wait()
        try:
            with self._serial():
                session = token.open(rw=True)  # logged in through the anchor
        except px.PKCS11Error as e:
            with st.cond:
                st.total -= 1
                st.cond.notify()
            error = hsm_error(e, "opening a session")
            if isinstance(error, HsmUnavailable):
                self._invalidate(generation)
            raise error from None
        return PooledSession(session, generation, epoch)

    def _release(self, pooled: PooledSession, healthy: bool) -> None:
        st = self._st()
        with st.cond:
            keep = healthy and pooled.generation == st.generation and not st.closed
            if keep:
                st.idle.append(pooled)
            else:
                st.total -= 1
            st.cond.notify()
        if not keep:
            self._close_quietly(pooled.session)

    def _invalidate(self, generation: int) -> None:
        """Drops every session of ``generation`` and the login: the next call starts over."""
        st = self._st()
        with st.cond:
            if st.generation != generation:
                return  # someone else reset already
            st.generation += 1
            st.broken = True
            stale, st.idle = st.idle, []
            st.total -= len(stale)
            anchor, st.anchor, st.token = st.anchor, None, None
            st.cond.notify_all()
        for pooled in stale:
            self._close_quietly(pooled.session)
        if anchor is not None:
            self._close_quietly(anchor)
        log.warning("hsm: the token is unavailable; sessions dropped, the next call logs in again")

    def _call(self, fn: Callable[[PooledSession], T], doing: str, idempotent: bool, opens: bool = False) -> T:
        for attempt in (1, 2):
            try:
                pooled = self._acquire()
            except (HsmPinIncorrect, HsmPinLocked):
                raise  # never a second login with a PIN the token refused: it may lock the PIN
            except HsmUnavailable:
                if attempt == 1:
                    continue  # nothing reached the token yet: once more, with the library restarted
                raise
            healthy = True
            try:
                with self._serial():
                    return fn(pooled)
            except px.PKCS11Error as e:
                error = hsm_error(e, doing)
                if isinstance(e, _VAGUE) and self._token_answers(pooled):
                    # SoftHSM2 (and other tokens) answer a failed GCM tag, a bad wrapped key or a
                    # mechanism that does not fit the key with CKR_GENERAL_ERROR: when the token is
                    # fine, it was the request. Reading it as "unavailable" would let anyone force
                    # the pool to log in again with one bad ciphertext.
                    if opens:
                        raise HsmIntegrityError(
                            f"HSM: {doing}: the ciphertext or wrapped key failed authentication ({error.ckr})",
                            ckr=error.ckr,
                        ) from None
                    raise HsmOperationRefused(
                        f"HSM: {doing}: the token cannot do this with this key and mechanism ({error.ckr})",
                        ckr=error.ckr,
                    ) from None
                if isinstance(error, HsmUnavailable):
                    healthy = False
                    self._invalidate(pooled.generation)
                    if idempotent and attempt == 1:
                        continue
                elif type(error) is HsmError:
                    healthy = False  # a session in an unknown state is not reused
                raise error from None
            finally:
                self._release(pooled, healthy)
        raise AssertionError("unreachable")

    def _serial(self) -> contextlib.AbstractContextManager[Any]:
        """The module's call lock, or nothing for a module configured as ``parallel``."""
        st = self._st()
        if self.config.parallel or st.library is None:
            return contextlib.nullcontext()
        return st.library.calls

    def _close_quietly(self, session: Any) -> None:
        # A session of a token that is gone cannot be closed cleanly; C_Finalize frees it later.
        with self._serial(), contextlib.suppress(px.PKCS11Error):
            session.close()

    def _token_answers(self, pooled: PooledSession) -> bool:
        """True when the token still answers C_GetTokenInfo (it is present and the library is sane)."""
        try:
            with self._serial():
                pooled.session.token.slot.get_token()
        except px.PKCS11Error:
            return False
        return True

    # -- running calls -------------------------------------------------------------------------

    def call(self, fn: Callable[[Any], T], *, idempotent: bool = False, doing: str = "calling the token") -> T:
        """``fn(session)`` with a logged-in python-pkcs11 session, in the calling thread (blocking)."""
        return self._call(lambda pooled: fn(pooled.session), doing, idempotent)

    async def run(self, fn: Callable[[Any], T], *, idempotent: bool = False, doing: str = "calling the token") -> T:
        """``fn(session)`` with a logged-in python-pkcs11 session, on the pool's threads.

        ``idempotent=True`` lets the pool retry once on fresh sessions after the token came back.
        """
        return await self._submit(lambda pooled: fn(pooled.session), doing, idempotent)

    async def _submit(self, fn: Callable[[PooledSession], T], doing: str, idempotent: bool, opens: bool = False) -> T:
        loop = asyncio.get_running_loop()
        return await self._workers().submit(loop, lambda: self._call(fn, doing, idempotent, opens))

    def close(self) -> None:
        """Logs out and closes every session and the threads of this process."""
        st = self._st()
        with st.cond:
            st.closed = True
            idle, st.idle = st.idle, []
            st.total -= len(idle)
            anchor, st.anchor, st.token = st.anchor, None, None
            workers, st.workers = st.workers, None
            st.cond.notify_all()
        if workers is not None:
            workers.stop()
        for pooled in idle:
            self._close_quietly(pooled.session)
        if anchor is not None:
            self._close_quietly(anchor)

    def check(self) -> None:
        """Opens the token and logs in now (blocking): start-up fails here with a clear error."""
        self.call(lambda session: None, doing="checking the token")

    # -- keys ----------------------------------------------------------------------------------

    @staticmethod
    def _find(pooled: PooledSession, cls: ObjectClass, label: str | None, key_id: bytes | None) -> Any:
        """The one object of class ``cls`` with that label and/or id, cached per session."""
        cache_key = (cls, label, key_id)
        key = pooled.keys.get(cache_key)
        if key is not None:
            return key
        attrs: dict[Attribute, Any] = {Attribute.CLASS: cls}
        if label is not None:
            attrs[Attribute.LABEL] = label
        if key_id is not None:
            attrs[Attribute.ID] = key_id
        found = _first(pooled.session, attrs, 2)
        if not found:
            # A vanished token can look like an empty one: ask the token before saying "not found".
            pooled.session.token.slot.get_token()
            what = " and ".join(
                p for p in (f"label {label!r}" if label else "", f"id {key_id.hex()}" if key_id else "") if p
            )
            raise HsmKeyNotFound(f"HSM: no {_CLASS_NAMES.get(cls, 'object')} with {what} on the token")
        if len(found) > 1:
            raise HsmKeyExists(f"HSM: more than one {_CLASS_NAMES.get(cls, 'object')} matches label {label!r}")
        pooled.keys[cache_key] = found[0]
        return found[0]

    def _with_key(self, pooled: PooledSession, cls: ObjectClass, ref: KeyRef, op: Callable[[Any], T]) -> T:
        """``op(key)``; a cached handle that went stale (destroyed by another process) is looked up again."""
        cached = (cls, ref.label, ref.id) in pooled.keys
        key = self._find(pooled, cls, ref.label, ref.id)
        try:
            return op(key)
        except (px.ObjectHandleInvalid, px.KeyHandleInvalid):
            pooled.keys.pop((cls, ref.label, ref.id), None)
            if not cached:
                raise
            return op(self._find(pooled, cls, ref.label, ref.id))

    def _refuse_duplicate(self, pooled: PooledSession, label: str, key_id: bytes) -> None:
        for attrs in ({Attribute.LABEL: label}, {Attribute.ID: key_id}):
            if _first(pooled.session, attrs, 1):
                name = f"label {label!r}" if Attribute.LABEL in attrs else f"id {key_id.hex()}"
                raise HsmKeyExists(f"HSM: an object with {name} is already on the token")

    async def generate_aes_key(
        self,
        label: str,
        key_id: bytes,
        *,
        extractable: bool = False,
        sensitive: bool = True,
        capabilities: MechanismFlag | None = None,
    ) -> KeyRef:
        """An AES-256 key stored on the token (encrypt/decrypt and wrap/unwrap unless ``capabilities``).

        Sensitive and not extractable unless asked: its value never leaves the token.
        """
        check_label_id(label, key_id)
        flags = capabilities or (
            MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT | MechanismFlag.WRAP | MechanismFlag.UNWRAP
        )

        def generate(pooled: PooledSession) -> KeyRef:
            self._refuse_duplicate(pooled, label, key_id)
            pooled.session.generate_key(
                KeyType.AES,
                256,
                id=key_id,
                label=label,
                store=True,
                capabilities=flags,
                template={
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: sensitive,
                    Attribute.EXTRACTABLE: extractable,
                },
            )
            return KeyRef(KeyKind.AES_256, label, key_id)

        return await self._submit(generate, f"generating AES key {label!r}", idempotent=False)

    async def generate_keypair(self, kind: KeyKind | str, label: str, key_id: bytes) -> KeyPair:
        """A key pair of ``kind`` stored on the token; the private key sensitive and never extractable."""
        kind = _kind(kind)
        check_label_id(label, key_id)
        key_type, length, public_template, private_template = keypair_templates(kind)

        def generate(pooled: PooledSession) -> KeyPair:
            self._refuse_duplicate(pooled, label, key_id)
            public, _private = pooled.session.generate_keypair(
                key_type,
                length,
                id=key_id,
                label=label,
                store=True,
                capabilities=keypair_capabilities(kind),
                public_template=public_template,
                private_template=private_template,
            )
            return KeyPair(KeyRef(kind, label, key_id), public_key_der(kind, public.__getitem__))

        return await self._submit(generate, f"generating {kind} key {label!r}", idempotent=False)

    async def find_key(self, *, label: str | None = None, key_id: bytes | None = None) -> KeyRef:
        """The key with that label and/or id (a key pair's private half, or a secret key)."""
        if label is None and key_id is None:
            raise InvalidInput("find_key needs a label or an id")

        def find(pooled: PooledSession) -> KeyRef:
            attrs: dict[Attribute, Any] = {}
            if label is not None:
                attrs[Attribute.LABEL] = label
            if key_id is not None:
                attrs[Attribute.ID] = key_id
            keys = [
                o
                for o in _first(pooled.session, attrs, 8)
                if o[Attribute.CLASS] in (ObjectClass.SECRET_KEY, ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY)
            ]
            if not keys:
                pooled.session.token.slot.get_token()
                raise HsmKeyNotFound(f"HSM: no key with label {label!r} / id {key_id.hex() if key_id else None}")
            labels = {(o[Attribute.LABEL], bytes(o[Attribute.ID])) for o in keys}
            if len(labels) > 1 or len(keys) > 2:
                raise HsmKeyExists("HSM: more than one key matches: name it by label and id")
            first = keys[0]
            found_label, found_id = next(iter(labels))
            return KeyRef(kind_of(first.key_type, first.__getitem__), found_label, found_id)

        return await self._submit(find, "looking up a key", idempotent=True)

    async def public_key(self, ref: KeyRef) -> bytes:
        """The public key of a key pair, as DER SubjectPublicKeyInfo."""
        return await self._submit(
            lambda p: self._with_key(p, ObjectClass.PUBLIC_KEY, ref, lambda k: public_key_der(ref.kind, k.__getitem__)),
            f"reading the public key of {ref.label!r}",
            idempotent=True,
        )

    async def destroy(self, *, label: str | None = None, key_id: bytes | None = None) -> int:
        """Deletes every key object with that label and/or id (both halves of a pair); returns how many."""
        if label is None and key_id is None:
            raise InvalidInput("destroy needs a label or an id")
        attrs: dict[Attribute, Any] = {}
        if label is not None:
            attrs[Attribute.LABEL] = label
        if key_id is not None:
            attrs[Attribute.ID] = key_id

        def destroy(pooled: PooledSession) -> int:
            objects = list(pooled.session.get_objects(attrs))
            if not objects:
                pooled.session.token.slot.get_token()
                raise HsmKeyNotFound(f"HSM: nothing to destroy: no object with label {label!r}")
            # Every session forgets its cached handles. No lock: the module's call lock is held here,
            # and a lost increment of two racing destroys still changes the value.
            self._st().key_epoch += 1
            pooled.keys.clear()
            for obj in objects:
                obj.destroy()
            return len(objects)

        return await self._submit(destroy, f"destroying {label or key_id!r}", idempotent=False)

    # -- operations ----------------------------------------------------------------------------

    async def sign(
        self, ref: KeyRef, data: bytes, *, mechanism: Mechanism | None = None, mechanism_param: Any = None
    ) -> bytes:
        """A signature of ``data`` by the private key ``ref``.

        Without ``mechanism``, the kind's default scheme (see :func:`skms.hsm.kinds.default_signing`):
        ECDSA gives raw r ‖ s (:func:`~skms.hsm.kinds.ecdsa_der` converts), RSA is PSS-SHA-256.
        """
        mech, param, message = _scheme(ref, data, mechanism, mechanism_param)

        def sign(pooled: PooledSession) -> bytes:
            return self._with_key(
                pooled,
                ObjectClass.PRIVATE_KEY,
                ref,
                lambda key: bytes(_can(key, "sign")(message, mechanism=mech, mechanism_param=param)),
            )

        signature = await self._submit(sign, f"signing with {ref.label!r}", idempotent=True)
        return low_s(ref.kind, signature) if mechanism is None else signature

    async def verify(
        self,
        ref: KeyRef,
        data: bytes,
        signature: bytes,
        *,
        mechanism: Mechanism | None = None,
        mechanism_param: Any = None,
    ) -> bool:
        """True when ``signature`` (the token's format: raw r ‖ s for ECDSA) is valid for ``data``."""
        if not isinstance(signature, bytes):
            raise InvalidInput("a signature is bytes", field="signature")
        mech, param, message = _scheme(ref, data, mechanism, mechanism_param)

        def verify(pooled: PooledSession) -> bool:
            return self._with_key(
                pooled,
                ObjectClass.PUBLIC_KEY,
                ref,
                lambda key: bool(_can(key, "verify")(message, signature, mechanism=mech, mechanism_param=param)),
            )

        return await self._submit(verify, f"verifying with {ref.label!r}", idempotent=True)

    async def encrypt(
        self, ref: KeyRef, plaintext: bytes | SecretBytes, *, aad: bytes = b"", iv: bytes | None = None
    ) -> tuple[bytes, bytes]:
        """AES-256-GCM in the token: ``(iv, ciphertext ‖ 16-byte tag)``. A fresh random 12-byte IV
        unless ``iv`` is given (only for known-answer tests: never reuse an IV with a key)."""
        _check_aes(ref)
        nonce = os.urandom(_GCM_IV) if iv is None else iv
        if not isinstance(nonce, bytes) or len(nonce) != _GCM_IV:
            raise InvalidInput("an AES-GCM IV is 12 bytes", field="iv")
        if not isinstance(aad, bytes):
            raise InvalidInput("associated data is bytes", field="aad")
        secret = isinstance(plaintext, SecretBytes)
        if not secret and not isinstance(plaintext, bytes):
            raise InvalidInput("the plaintext is bytes or SecretBytes", field="plaintext")

        def encrypt(pooled: PooledSession) -> bytes:
            # python-pkcs11 takes bytes: a SecretBytes is exposed for the call and wiped after it.
            data = plaintext.expose_secret() if isinstance(plaintext, SecretBytes) else plaintext
            try:
                params = pkcs11.GCMParams(nonce, aad, _GCM_TAG_BITS)
                return self._with_key(
                    pooled,
                    ObjectClass.SECRET_KEY,
                    ref,
                    lambda key: bytes(_can(key, "encrypt")(data, mechanism=Mechanism.AES_GCM, mechanism_param=params)),
                )
            finally:
                if secret:
                    wipe(data)

        return nonce, await self._submit(encrypt, f"encrypting with {ref.label!r}", idempotent=True)

    async def decrypt(self, ref: KeyRef, iv: bytes, ciphertext: bytes, *, aad: bytes = b"") -> bytes:
        """The plaintext of AES-256-GCM ``ciphertext ‖ tag``; a wrong tag raises HsmIntegrityError."""
        decrypt = self._decrypter(ref, iv, ciphertext, aad)
        return await self._submit(decrypt, f"decrypting with {ref.label!r}", idempotent=True, opens=True)

    async def decrypt_secret(self, ref: KeyRef, iv: bytes, ciphertext: bytes, *, aad: bytes = b"") -> SecretBytes:
        """:meth:`decrypt` into a zeroizing :class:`SecretBytes` (the bytes python-pkcs11 returns are wiped)."""
        decrypt = self._decrypter(ref, iv, ciphertext, aad)

        def into_secret(pooled: PooledSession) -> SecretBytes:
            plain = decrypt(pooled)
            try:
                return SecretBytes(plain)
            finally:
                wipe(plain)

        return await self._submit(into_secret, f"decrypting with {ref.label!r}", idempotent=True, opens=True)

    def _decrypter(self, ref: KeyRef, iv: bytes, ciphertext: bytes, aad: bytes) -> Callable[[PooledSession], bytes]:
        _check_aes(ref)
        if not isinstance(iv, bytes) or len(iv) != _GCM_IV:
            raise InvalidInput("an AES-GCM IV is 12 bytes", field="iv")
        if not isinstance(ciphertext, bytes) or len(ciphertext) < _GCM_TAG_BITS // 8:
            raise InvalidInput("an AES-GCM ciphertext ends with its 16-byte tag", field="ciphertext")
        if not isinstance(aad, bytes):
            raise InvalidInput("associated data is bytes", field="aad")
        params = pkcs11.GCMParams(iv, aad, _GCM_TAG_BITS)

        def decrypt(pooled: PooledSession) -> bytes:
            return self._with_key(
                pooled,
                ObjectClass.SECRET_KEY,
                ref,
                lambda key: bytes(
                    _can(key, "decrypt")(ciphertext, mechanism=Mechanism.AES_GCM, mechanism_param=params)
                ),
            )

        return decrypt

    # -- RSA-OAEP -----------------------------------------------------------------------------

    @property
    def oaep_mechanism(self) -> str | None:
        """How this token decrypts RSA-OAEP SHA-256: ``"CKM_RSA_PKCS_OAEP"`` (in one call),
        ``"CKM_RSA_X_509"`` (raw RSA, the OAEP decoding native), or None before the first call."""
        return self._oaep

    async def decrypt_oaep(self, ref: KeyRef, ciphertext: bytes) -> SecretBytes:
        """The plaintext of RSA-OAEP ``ciphertext`` (SHA-256, MGF1-SHA-256, empty label: SKMS's
        RSA-OAEP) for the private key ``ref``, whose private operation runs in the token.

        The token is asked for CKM_RSA_PKCS_OAEP with SHA-256 first (real HSMs do it). A token
        that refuses those parameters (SoftHSM2 2.6 does OAEP with SHA-1 only) does the raw
        private operation instead (CKM_RSA_X_509, m = c^d mod n, under the key's CKA_DECRYPT),
        and the EME-OAEP decoding runs in constant time in the native core. Which of the two
        the token takes is found by the first call and kept for this Hsm. A ciphertext that is
        not k bytes, or not in (0, n), raises InvalidInput; any other failure IntegrityError.
        """
        if not isinstance(ref, KeyRef) or ref.kind not in (KeyKind.RSA_3072, KeyKind.RSA_4096):
            raise InvalidInput("RSA-OAEP decryption takes an RSA key of the token", field="key")
        if not isinstance(ciphertext, bytes):
            raise InvalidInput("an RSA-OAEP ciphertext is bytes", field="ciphertext")
        doing = f"decrypting with {ref.label!r}"
        ambiguous = False
        if self._oaep != _OAEP_RAW:
            try:
                plain = await self._submit(self._oaep_in_token(ref, ciphertext), doing, idempotent=True, opens=True)
            except HsmError as e:
                if self._oaep == _OAEP_TOKEN or e.ckr not in (*_OAEP_REFUSED, *_OAEP_VAGUE):
                    raise
                # SoftHSM2 answers CKR_GENERAL_ERROR for some parameters, and so may a token that
                # does OAEP-SHA-256 for a bad ciphertext: that one is decided by the raw path below.
                ambiguous = e.ckr in _OAEP_VAGUE
                if not ambiguous:
                    self._oaep = _OAEP_RAW
            else:
                self._oaep = _OAEP_TOKEN
                return plain
        try:
            plain = await self._submit(self._oaep_raw(ref, ciphertext), doing, idempotent=True, opens=True)
        except HsmError as e:
            if e.ckr in _OAEP_REFUSED:
                raise HsmOperationRefused(
                    f"HSM: {doing}: the token does neither RSA-OAEP with SHA-256 nor raw RSA "
                    f"(CKM_RSA_X_509) with this key ({e.ckr})",
                    ckr=e.ckr,
                ) from None
            raise
        if ambiguous:
            self._oaep = _OAEP_RAW  # a valid ciphertext the token's OAEP failed on: it cannot do it
        return plain

    def _oaep_in_token(self, ref: KeyRef, ciphertext: bytes) -> Callable[[PooledSession], SecretBytes]:
        def decrypt(pooled: PooledSession) -> SecretBytes:
            def op(key: Any) -> SecretBytes:
                _rsa_modulus_len(pooled, key, ref, ciphertext)
                mechanism, param = RSA_OAEP_SHA256  # SKMS's RSA-OAEP, as skms.crypto.asymmetric: no label
                plain = bytes(_can(key, "decrypt")(ciphertext, mechanism=mechanism, mechanism_param=param))
                try:
                    return SecretBytes(plain)
                finally:
                    wipe(plain)

            return self._with_key(pooled, ObjectClass.PRIVATE_KEY, ref, op)

        return decrypt

    def _oaep_raw(self, ref: KeyRef, ciphertext: bytes) -> Callable[[PooledSession], SecretBytes]:
        def decrypt(pooled: PooledSession) -> SecretBytes:
            def op(key: Any) -> SecretBytes:
                k = _rsa_modulus_len(pooled, key, ref, ciphertext)
                encoded = bytes(_can(key, "decrypt")(ciphertext, mechanism=Mechanism.RSA_X_509))
                try:
                    return rsa_oaep_decode(encoded, k)
                finally:
                    wipe(encoded)

            return self._with_key(pooled, ObjectClass.PRIVATE_KEY, ref, op)

        return decrypt

    async def wrap_secret(self, wrapping: KeyRef, secret: SecretBytes) -> bytes:
        """``secret`` (for example a 32-byte root key) wrapped by the token key ``wrapping`` with
        AES key wrap with padding (RFC 5649, CKM_AES_KEY_WRAP_PAD).

        The secret becomes a temporary session object (never stored on the token) that is
        wrapped and destroyed. Where python-pkcs11 makes copies: SKMS exposes the secret as one
        ``bytes`` object and wipes it after the call, but python-pkcs11 copies the template
        into a C buffer it frees without zeroing, and the PKCS#11 library keeps its own copy
        of the session object until it is destroyed.
        """
        _check_aes(wrapping)
        if not isinstance(secret, SecretBytes) or not 16 <= len(secret) <= 1024:
            raise InvalidInput("wrap_secret takes a SecretBytes of 16 to 1024 bytes", field="secret")

        def wrap(pooled: PooledSession) -> bytes:
            value = secret.expose_secret()
            temporary = None
            try:
                temporary = pooled.session.create_object(
                    {
                        Attribute.CLASS: ObjectClass.SECRET_KEY,
                        Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                        Attribute.TOKEN: False,
                        Attribute.PRIVATE: True,
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: True,
                        Attribute.VALUE: value,
                    }
                )
                return self._with_key(
                    pooled,
                    ObjectClass.SECRET_KEY,
                    wrapping,
                    lambda key: bytes(_can(key, "wrap_key")(temporary, mechanism=Mechanism.AES_KEY_WRAP_PAD)),
                )
            finally:
                wipe(value)
                if temporary is not None:
                    with contextlib.suppress(px.PKCS11Error):
                        temporary.destroy()

        return await self._submit(wrap, f"wrapping a secret with {wrapping.label!r}", idempotent=True)

    async def unwrap_secret(self, wrapping: KeyRef, wrapped: bytes) -> SecretBytes:
        """The secret that :meth:`wrap_secret` wrapped; a wrong or altered blob raises an HsmError.

        The secret is unwrapped into a temporary, non-sensitive session object, read once,
        moved into a :class:`SecretBytes` (the ``bytes`` python-pkcs11 returns is wiped) and the
        object destroyed. python-pkcs11 reads the value through a C buffer it does not zero.
        """
        _check_aes(wrapping)
        if not isinstance(wrapped, bytes) or not 24 <= len(wrapped) <= 1040 or len(wrapped) % 8:
            raise InvalidInput("a key wrapped with AES-KWP is a multiple of 8 bytes, 24 or more", field="wrapped")

        def unwrap(pooled: PooledSession) -> SecretBytes:
            temporary = self._with_key(
                pooled,
                ObjectClass.SECRET_KEY,
                wrapping,
                lambda key: _can(key, "unwrap_key")(
                    ObjectClass.SECRET_KEY,
                    KeyType.GENERIC_SECRET,
                    wrapped,
                    mechanism=Mechanism.AES_KEY_WRAP_PAD,
                    store=False,
                    capabilities=MechanismFlag(0),
                    template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True, Attribute.PRIVATE: True},
                ),
            )
            try:
                value = temporary[Attribute.VALUE]
                try:
                    return SecretBytes(value)
                finally:
                    wipe(value)
            finally:
                with contextlib.suppress(px.PKCS11Error):
                    temporary.destroy()

        return await self._submit(unwrap, f"unwrapping a secret with {wrapping.label!r}", idempotent=True, opens=True)

    # -- random (issue 14 item 7) --------------------------------------------------------------

    async def generate_random(self, n: int) -> bytes:
        """``n`` bytes from the token's generator (C_GenerateRandom)."""
        _check_random(n)
        return await self._submit(
            lambda p: bytes(p.session.generate_random(8 * n)), "generating random bytes", idempotent=True
        )

    def random_bytes(self, n: int) -> bytes:
        """``n`` bytes from the token's generator, blocking (the
        :class:`skms.crypto.random.RandomSource` protocol: see :class:`skms.hsm.HsmRandom`)."""
        _check_random(n)
        return self._call(lambda p: bytes(p.session.generate_random(8 * n)), "generating random bytes", True)

    # -- introspection for tests and health checks -----------------------------------------------

    def pool_size(self) -> tuple[int, int]:
        """(sessions open, of which idle) in this process."""
        st = self._st()
        with st.cond:
            return st.total, len(st.idle)


class Workers:
    """Threads that run blocking calls for asyncio callers (like ``run_in_executor``), but
    return results in batches: the first result of a batch wakes the loop once, and the loop
    settles every result that arrived by then. With a token at 10,000 signatures a second,
    a wake-up per call costs the loop (and the GIL) as much as the signing."""

    def __init__(self, threads: int) -> None:
        self.jobs: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Callable[[], Any]] | None]
        self.jobs = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.done: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]] = {}
        self.threads = [threading.Thread(target=self._work, name=f"skms-hsm-{i}", daemon=True) for i in range(threads)]
        for thread in self.threads:
            thread.start()

    def submit(self, loop: asyncio.AbstractEventLoop, fn: Callable[[], T]) -> asyncio.Future[T]:
        future: asyncio.Future[T] = loop.create_future()
        self.jobs.put((loop, future, fn))
        return future

    def stop(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)
        for thread in self.threads:
            if thread is not threading.current_thread():
                thread.join()

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            loop, future, fn = job
            if future.cancelled():
                continue
            try:
                outcome: tuple[asyncio.Future[Any], Any, BaseException | None] = (future, fn(), None)
            except BaseException as e:  # handed to the awaiting task, as run_in_executor does
                outcome = (future, None, e)
            with self.lock:
                batch = self.done.setdefault(loop, [])
                batch.append(outcome)
                first = len(batch) == 1
            if first:
                try:
                    loop.call_soon_threadsafe(self._settle, loop)
                except RuntimeError:  # the loop is closed: nobody awaits these any more
                    with self.lock:
                        self.done.pop(loop, None)

    def _settle(self, loop: asyncio.AbstractEventLoop) -> None:
        with self.lock:
            batch = self.done.pop(loop, [])
        for future, result, error in batch:
            if future.cancelled():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)


_CLASS_NAMES = {
    ObjectClass.SECRET_KEY: "secret key",
    ObjectClass.PRIVATE_KEY: "private key",
    ObjectClass.PUBLIC_KEY: "public key",
}


#: Return values that say only "it failed": after a decryption, the token is asked whether it is well.
_VAGUE = (px.GeneralError, px.FunctionFailed)


def _first(session: Any, attrs: dict[Attribute, Any], n: int) -> list[Any]:
    """At most ``n`` objects matching ``attrs``; the search is always finished (C_FindObjectsFinal),
    or the session's next search would fail with CKR_OPERATION_ACTIVE."""
    search = session.get_objects(attrs)
    try:
        return list(itertools.islice(search, n))
    finally:
        search.close()


_CAPABILITIES = {
    "sign": "CKA_SIGN",
    "verify": "CKA_VERIFY",
    "encrypt": "CKA_ENCRYPT",
    "decrypt": "CKA_DECRYPT",
    "wrap_key": "CKA_WRAP",
    "unwrap_key": "CKA_UNWRAP",
}


def _can(key: Any, method: str) -> Any:
    """``key.<method>``; python-pkcs11 gives a key only the methods its attributes allow, so a
    missing one is the token's CKR_KEY_FUNCTION_NOT_PERMITTED, caught before the call."""
    found = getattr(key, method, None)
    if found is None:
        raise HsmOperationRefused(
            f"HSM: the key {key.label!r} does not permit this use ({_CAPABILITIES[method]} is false)",
            ckr="CKR_KEY_FUNCTION_NOT_PERMITTED",
        )
    return found


_OAEP_TOKEN = "CKM_RSA_PKCS_OAEP"
_OAEP_RAW = "CKM_RSA_X_509"
#: The token's "not this mechanism or these parameters": decrypt with CKM_RSA_X_509 instead.
_OAEP_REFUSED = ("CKR_MECHANISM_INVALID", "CKR_MECHANISM_PARAM_INVALID", "CKR_ARGUMENTS_BAD")
_OAEP_VAGUE = ("CKR_GENERAL_ERROR", "CKR_FUNCTION_FAILED")


def _rsa_modulus_len(pooled: PooledSession, key: Any, ref: KeyRef, ciphertext: bytes) -> int:
    """k, the modulus's length in bytes, after checking the raw-RSA input: k bytes, 0 < c < n.
    The modulus is public (CKA_MODULUS), read once per session and key."""
    cached = ("modulus", ref.label, ref.id)
    n = pooled.keys.get(cached)
    if n is None:
        n = int.from_bytes(bytes(key[Attribute.MODULUS]), "big")
        pooled.keys[cached] = n
    k = (n.bit_length() + 7) // 8
    if len(ciphertext) != k:
        raise InvalidInput(
            f"an RSA-OAEP ciphertext of this {n.bit_length()}-bit key is {k} bytes, got {len(ciphertext)}",
            field="ciphertext",
        )
    if not 0 < int.from_bytes(ciphertext, "big") < n:
        raise InvalidInput("an RSA-OAEP ciphertext is a number between 0 and the key's modulus", field="ciphertext")
    return k


def _kind(kind: KeyKind | str) -> KeyKind:
    try:
        return KeyKind(kind)
    except ValueError:
        raise InvalidInput(
            f"unknown HSM key kind {kind!r}; expected one of {', '.join(k.value for k in KeyKind)}", field="kind"
        ) from None


def _check_aes(ref: KeyRef) -> None:
    if not isinstance(ref, KeyRef) or ref.kind is not KeyKind.AES_256:
        raise InvalidInput("this operation takes an AES-256 key of the token", field="key")


def _check_random(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= RANDOM_MAX:
        raise InvalidInput(f"the token gives 1 to {RANDOM_MAX} random bytes at a time", field="n")


def _scheme(ref: KeyRef, data: bytes, mechanism: Mechanism | None, param: Any) -> tuple[Mechanism, Any, bytes]:
    if not isinstance(ref, KeyRef):
        raise InvalidInput("a key reference is a KeyRef", field="key")
    if not isinstance(data, bytes):
        raise InvalidInput("the data to sign is bytes", field="data")
    if mechanism is not None:
        return mechanism, param, data
    return default_signing(ref.kind, data)


__all__ = ["RANDOM_MAX", "Hsm", "PooledSession", "library"]
