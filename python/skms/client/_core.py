"""The transport-agnostic core of the client: every operation once, as a :class:`Call`.

A builder function (``sign``, ``create_key``, …) checks nothing the server checks, builds the
request (method, path, query, JSON body) and names the parser of the answer; :class:`Client` and
:class:`AsyncClient` only send it. Retry decisions, error mapping and decoding also live here.
"""

import contextlib
import email.utils
import inspect
import os
import time
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from skms.client import models as m
from skms.client.errors import TransportError, error_from_response

T = TypeVar("T")
R = TypeVar("R")

#: Where the client connects when neither ``addr`` nor ``SKMS_ADDR`` says otherwise (``make run``).
DEFAULT_ADDR = "http://127.0.0.1:8470"
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 2
#: First retry delay in seconds; doubled on each further attempt.
RETRY_BACKOFF = 0.2
#: Longest wait a ``Retry-After`` header may impose.
MAX_RETRY_DELAY = 5.0

#: Addresses per request when ``iter_addresses`` (and ``skms wallet addresses``) fetch many.
ADDRESS_CHUNK = 10_000

Policy = m.KeyPolicy | Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One HTTP request and how to read its successful answer."""

    method: str
    path: str
    parse: Callable[[bytes], T] = field(repr=False)
    #: The JSON body; it may hold plaintexts, passphrases or shares, so it stays out of ``repr``.
    body: bytes | None = field(default=None, repr=False)
    params: tuple[tuple[str, str], ...] = ()
    #: Safe to repeat when the server answers 503 (idempotent reads).
    retry: bool = False

    @property
    def headers(self) -> dict[str, str]:
        return {"content-type": "application/json"} if self.body is not None else {}


# -- configuration -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Config:
    """Resolved connection settings (shared by both clients)."""

    addr: str
    token: str | None = field(repr=False)
    timeout: float
    retries: int

    @classmethod
    def resolve(cls, addr: str | None, token: str | None, timeout: float | None, retries: int | None) -> "Config":
        addr = addr or os.environ.get("SKMS_ADDR") or DEFAULT_ADDR
        if "://" not in addr:
            addr = "http://" + addr
        token = token if token is not None else os.environ.get("SKMS_TOKEN") or None
        return cls(
            addr=addr.rstrip("/"),
            token=token.strip() if token else None,
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            retries=DEFAULT_RETRIES if retries is None else max(0, retries),
        )

    def http_options(self) -> dict[str, Any]:
        from skms import __version__

        headers = {"user-agent": f"skms-client/{__version__}", "accept": "application/json"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        return {"base_url": self.addr, "headers": headers, "timeout": self.timeout}

    def __repr__(self) -> str:
        return f"addr={self.addr!r}, token={'<set>' if self.token else None}"


# -- sending and reading -----------------------------------------------------------------------------


def retry_delay(call: Call[Any], response: httpx.Response, attempt: int, retries: int) -> float | None:
    """Seconds to wait before repeating ``call``, or ``None`` to take ``response`` as final."""
    if not call.retry or response.status_code != 503 or attempt >= retries:
        return None
    delay: float = RETRY_BACKOFF * 2.0**attempt
    after = response.headers.get("retry-after")
    if after:
        try:
            delay = float(after)
        except ValueError:
            with contextlib.suppress(TypeError, ValueError):
                delay = email.utils.parsedate_to_datetime(after).timestamp() - time.time()
    return min(max(delay, 0.0), MAX_RETRY_DELAY)


def finish(call: Call[T], response: httpx.Response) -> T:
    """The parsed result of a successful response; the mapped exception otherwise."""
    if response.is_success:
        try:
            return call.parse(response.content)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as e:
            raise TransportError(f"unexpected answer to {call.method} {call.path}: {e}") from None
    raise error_from_response(
        response.status_code,
        response.headers.get("content-type", ""),
        response.content,
        response.headers.get("x-request-id"),
    )


@contextlib.contextmanager
def transport_errors(config: Config, call: Call[Any]) -> Iterator[None]:
    """httpx's network errors as :class:`TransportError` (a :class:`~skms.errors.SKMSError`)."""
    try:
        yield
    except httpx.TimeoutException:
        raise TransportError(f"{call.method} {call.path}: no answer from {config.addr} within the timeout") from None
    except httpx.HTTPError as e:
        raise TransportError(f"{call.method} {call.path}: cannot reach {config.addr}: {e}") from None


def chunks(start: int, count: int, size: int) -> Iterator[tuple[int, int]]:
    """``(first, n)`` pieces covering ``start`` … ``start + count - 1``, ``size`` at most each."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    end = start + count
    for first in range(start, end, size):
        yield first, min(size, end - first)


# -- helpers for the builders ---------------------------------------------------------------------------


def _seg(name: str) -> str:
    return quote(name, safe="")


def _key(name: str, action: str = "") -> str:
    return f"/v1/keys/{_seg(name)}" + (f"/{action}" if action else "")


def _wallet(name: str, action: str = "") -> str:
    return f"/v1/wallets/{_seg(name)}" + (f"/{action}" if action else "")


def _encode(fields: Mapping[str, Any]) -> bytes:
    """A JSON body of the fields that are not ``None`` (``bytes`` become base64)."""
    return msgspec.json.encode({k: v for k, v in fields.items() if v is not None})


def _policy(policy: Policy | None) -> dict[str, Any] | None:
    if policy is None:
        return None
    if isinstance(policy, m.KeyPolicy):
        return policy.to_dict()
    return {k: v for k, v in policy.items() if v is not None}


def _decoder(kind: type[T]) -> Callable[[bytes], T]:
    return msgspec.json.Decoder(kind).decode


def _get(url: str, parse: Callable[[bytes], T], params: Sequence[tuple[str, str]] = ()) -> Call[T]:
    return Call("GET", url, parse, params=tuple(params), retry=True)


def _post(url: str, parse: Callable[[bytes], T], /, **fields: Any) -> Call[T]:
    return Call("POST", url, parse, body=_encode(fields))


_key_of = _decoder(m.Key)
_wallet_of = _decoder(m.Wallet)
_ciphertext_of = _decoder(m.Ciphertext)
_signature_of = _decoder(m.Signature)
_mac_of = _decoder(m.Mac)
_seal_status_of = _decoder(m.SealStatus)
_health_of = _decoder(m.Health)
_plaintext = msgspec.json.Decoder(m._Plaintext)
_valid = msgspec.json.Decoder(m._Valid)
_batch = msgspec.json.Decoder(m._BatchResults)
_hmac_out = msgspec.json.Decoder(m._HmacOut)
_shared_secret = msgspec.json.Decoder(m._SharedSecret)
_wallet_created = msgspec.json.Decoder(m._WalletCreated)
_addresses = msgspec.json.Decoder(m._Addresses)
_random = msgspec.json.Decoder(m._Random)
_digest = msgspec.json.Decoder(m._Digest)
_backup_of = _decoder(m.Backup)
_recipient_of = _decoder(m.BackupRecipient)
_recipients = msgspec.json.Decoder(m._Recipients)
_restored = msgspec.json.Decoder(m.Restored)


def _bool(value: bool | None) -> bool:
    if value is None:
        raise msgspec.ValidationError("missing `valid`")
    return value


def _batch_of(count: int, convert: Callable[[m._BatchItem], R]) -> Callable[[bytes], list[R | m.Problem]]:
    """Parser of ``{"results": [...]}``: one result, or the item's :class:`Problem`, per input."""

    def parse(body: bytes) -> list[R | m.Problem]:
        results = _batch.decode(body).results
        if len(results) != count:
            raise msgspec.ValidationError(f"{len(results)} batch results for {count} items")
        return [item.error if item.error is not None else convert(item) for item in results]

    return parse


def _need(value: T | None, name: str) -> T:
    if value is None:
        raise msgspec.ValidationError(f"missing `{name}` in a batch result")
    return value


def _as_ciphertext(item: m._BatchItem) -> m.Ciphertext:
    return m.Ciphertext(
        ciphertext=_need(item.ciphertext, "ciphertext"), key_version=_need(item.key_version, "key_version")
    )


def _as_signature(item: m._BatchItem) -> m.Signature:
    return m.Signature(signature=_need(item.signature, "signature"), key_version=_need(item.key_version, "key_version"))


def _as_mac(item: m._BatchItem) -> m.Mac:
    return m.Mac(hmac=_need(item.hmac, "hmac"), key_version=_need(item.key_version, "key_version"))


def _as_plaintext(item: m._BatchItem) -> bytes:
    return _need(item.plaintext, "plaintext")


def _as_valid(item: m._BatchItem) -> bool:
    return _need(item.valid, "valid")


def _plaintexts(items: Iterable[bytes | tuple[bytes, bytes]]) -> list[dict[str, bytes]]:
    out = []
    for item in items:
        plaintext, ad = (item, b"") if isinstance(item, bytes | bytearray | memoryview) else item
        out.append({"plaintext": bytes(plaintext), "associated_data": ad} if ad else {"plaintext": bytes(plaintext)})
    return out


def _ciphertexts(items: Iterable[str | tuple[str, bytes]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items:
        ciphertext, ad = (item, b"") if isinstance(item, str) else item
        out.append({"ciphertext": ciphertext, "associated_data": ad} if ad else {"ciphertext": ciphertext})
    return out


# -- keys --------------------------------------------------------------------------------------------


def create_key(
    name: str,
    type: str,
    *,
    purpose: str | None = None,
    labels: Mapping[str, str] | None = None,
    policy: Policy | None = None,
    state: str = "active",
    backend: str | None = None,
) -> Call[m.Key]:
    """Creates a key of ``type`` (``ed25519``, ``aes256-gcm``, ``ml-kem-768``…) and returns its metadata.

    ``backend="hsm"`` makes it inside the server's HSM, where its material stays."""
    return _post("/v1/keys", _key_of, name=name, type=type, purpose=purpose, labels=labels, policy=_policy(policy),
                 state=state, backend=backend)  # fmt: skip


def list_keys(
    *,
    limit: int = 100,
    cursor: str | None = None,
    type: str | None = None,
    state: str | None = None,
    prefix: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> Call[m.KeyPage]:
    """One page of keys (``next_cursor`` continues); ``iter_keys`` walks every page."""
    params = [("limit", str(limit))]
    for k, v in (("cursor", cursor), ("type", type), ("state", state), ("prefix", prefix)):
        if v is not None:
            params.append((k, v))
    params.extend(("label", f"{k}:{v}") for k, v in (labels or {}).items())
    return _get("/v1/keys", _decoder(m.KeyPage), params)


def get_key(name: str) -> Call[m.Key]:
    """A key's metadata and public keys."""
    return _get(_key(name), _key_of)


def update_key(
    name: str,
    *,
    labels: Mapping[str, str] | None = None,
    policy: Policy | None = None,
    min_version: int | None = None,
) -> Call[m.Key]:
    """Replaces the labels, merges policy fields, or raises the minimum decryption version (``None``: unchanged)."""
    body = _encode({"labels": labels, "policy": _policy(policy), "min_version": min_version})
    return Call("PATCH", _key(name), _key_of, body=body)


def rotate_key(name: str) -> Call[m.Key]:
    """Adds a version; new operations use it, older ciphertexts and signatures stay valid."""
    return Call("POST", _key(name, "rotate"), _key_of)


def set_key_state(name: str, state: str) -> Call[m.Key]:
    """Moves the key to ``active``, ``suspended`` or ``compromised``."""
    return _post(_key(name, "state"), _key_of, state=state)


def schedule_deletion(name: str, window: int | None = None) -> Call[m.Key]:
    """Schedules destruction after ``window`` seconds (the policy's, 7 days by default; 0 destroys now)."""
    params = () if window is None else (("window", str(window)),)
    return Call("DELETE", _key(name), _key_of, params=params)


def cancel_deletion(name: str) -> Call[m.Key]:
    """Cancels a scheduled destruction."""
    return Call("POST", _key(name, "cancel-deletion"), _key_of)


# -- crypto ---------------------------------------------------------------------------------------------


def encrypt(name: str, plaintext: bytes, *, associated_data: bytes = b"") -> Call[m.Ciphertext]:
    """Encrypts with the latest version: ``skms:vN:…`` text that names the version."""
    return _post(_key(name, "encrypt"), _ciphertext_of, plaintext=plaintext, associated_data=associated_data or None)


def encrypt_batch(name: str, items: Iterable[bytes | tuple[bytes, bytes]]) -> Call[list[m.Ciphertext | m.Problem]]:
    """Encrypts each plaintext (or ``(plaintext, associated_data)``): a result or a :class:`Problem` each."""
    batch = _plaintexts(items)
    return _post(_key(name, "encrypt"), _batch_of(len(batch), _as_ciphertext), batch=batch)


def decrypt(name: str, ciphertext: str, *, associated_data: bytes = b"") -> Call[bytes]:
    """The plaintext of a ciphertext made by any version at or above the key's minimum."""
    return _post(_key(name, "decrypt"), lambda b: _plaintext.decode(b).plaintext, ciphertext=ciphertext,
                 associated_data=associated_data or None)  # fmt: skip


def decrypt_batch(name: str, items: Iterable[str | tuple[str, bytes]]) -> Call[list[bytes | m.Problem]]:
    """Decrypts each ciphertext (or ``(ciphertext, associated_data)``)."""
    batch = _ciphertexts(items)
    return _post(_key(name, "decrypt"), _batch_of(len(batch), _as_plaintext), batch=batch)


def rewrap(name: str, ciphertext: str, *, associated_data: bytes = b"") -> Call[m.Ciphertext]:
    """Re-encrypts under the latest version without revealing the plaintext."""
    return _post(_key(name, "rewrap"), _ciphertext_of, ciphertext=ciphertext, associated_data=associated_data or None)


def rewrap_batch(name: str, items: Iterable[str | tuple[str, bytes]]) -> Call[list[m.Ciphertext | m.Problem]]:
    """Rewraps each ciphertext (or ``(ciphertext, associated_data)``)."""
    batch = _ciphertexts(items)
    return _post(_key(name, "rewrap"), _batch_of(len(batch), _as_ciphertext), batch=batch)


def datakey(
    name: str, *, size: int = 32, associated_data: bytes = b"", include_plaintext: bool = True
) -> Call[m.DataKey]:
    """A fresh data key, returned in the clear (unless ``include_plaintext=False``) and encrypted under ``name``."""
    return _post(_key(name, "datakey"), _decoder(m.DataKey), size=size, associated_data=associated_data or None,
                 include_plaintext=include_plaintext)  # fmt: skip


def sign(name: str, data: bytes, *, prehashed: bool = False) -> Call[m.Signature]:
    """Signs ``data`` (or, with ``prehashed``, its digest) with the latest version."""
    return _post(_key(name, "sign"), _signature_of, input=data, prehashed=prehashed or None)


def sign_batch(name: str, inputs: Iterable[bytes], *, prehashed: bool = False) -> Call[list[m.Signature | m.Problem]]:
    """Signs each input: a :class:`Signature` or a :class:`Problem` per item, in order."""
    batch = [{"input": data, "prehashed": True} if prehashed else {"input": data} for data in inputs]
    return _post(_key(name, "sign"), _batch_of(len(batch), _as_signature), batch=batch)


def verify(name: str, data: bytes, signature: str, *, prehashed: bool = False) -> Call[bool]:
    """Whether ``signature`` (``skms:vN:…``) is valid for ``data``; ``False``, not an error, when it is not."""
    return _post(_key(name, "verify"), lambda b: _valid.decode(b).valid, input=data, signature=signature,
                 prehashed=prehashed or None)  # fmt: skip


def verify_batch(
    name: str, items: Iterable[tuple[bytes, str]], *, prehashed: bool = False
) -> Call[list[bool | m.Problem]]:
    """Verifies each ``(data, signature)`` pair."""
    extra = {"prehashed": True} if prehashed else {}
    batch = [{"input": data, "signature": sig, **extra} for data, sig in items]
    return _post(_key(name, "verify"), _batch_of(len(batch), _as_valid), batch=batch)


def hmac(name: str, data: bytes) -> Call[m.Mac]:
    """The HMAC of ``data`` with the latest version."""
    return _post(_key(name, "hmac"), _mac_of, input=data)


def hmac_batch(name: str, inputs: Iterable[bytes]) -> Call[list[m.Mac | m.Problem]]:
    """The HMAC of each input."""
    batch = [{"input": data} for data in inputs]
    return _post(_key(name, "hmac"), _batch_of(len(batch), _as_mac), batch=batch)


def verify_hmac(name: str, data: bytes, tag: str) -> Call[bool]:
    """Whether ``tag`` (``skms:vN:…``) is the HMAC of ``data``."""
    return _post(_key(name, "hmac"), lambda b: _bool(_hmac_out.decode(b).valid), input=data, hmac=tag)


def verify_hmac_batch(name: str, items: Iterable[tuple[bytes, str]]) -> Call[list[bool | m.Problem]]:
    """Verifies each ``(data, tag)`` pair."""
    batch = [{"input": data, "hmac": tag} for data, tag in items]
    return _post(_key(name, "hmac"), _batch_of(len(batch), _as_valid), batch=batch)


def encapsulate(name: str) -> Call[m.Encapsulated]:
    """A shared secret and its KEM ciphertext for the holder of ``name`` (an ML-KEM, X-Wing… key)."""
    return Call("POST", _key(name, "encapsulate"), _decoder(m.Encapsulated))


def decapsulate(name: str, ciphertext: str) -> Call[bytes]:
    """The shared secret inside a KEM ciphertext made for ``name``."""
    return _post(_key(name, "decapsulate"), lambda b: _shared_secret.decode(b).shared_secret,
                 ciphertext=ciphertext)  # fmt: skip


# -- wallets ---------------------------------------------------------------------------------------------


def create_wallet(
    name: str,
    *,
    words: int = 24,
    passphrase: str = "",
    language: str = "english",
    labels: Mapping[str, str] | None = None,
    policy: Policy | None = None,
) -> Call[m.NewWallet]:
    """Creates an HD wallet; returns ``(wallet, mnemonic)``. The mnemonic is never shown again."""

    def parse(body: bytes) -> m.NewWallet:
        created = _wallet_created.decode(body)
        return m.NewWallet(created.wallet, _need(created.mnemonic, "mnemonic"))

    return _post("/v1/wallets", parse, name=name, words=words, passphrase=passphrase or None, language=language,
                 labels=labels, policy=_policy(policy))  # fmt: skip


def import_wallet(
    name: str,
    phrase: str,
    *,
    passphrase: str = "",
    labels: Mapping[str, str] | None = None,
    policy: Policy | None = None,
) -> Call[m.Wallet]:
    """Imports a BIP39 phrase as an HD wallet."""
    return _post("/v1/wallets", lambda b: _wallet_created.decode(b).wallet, name=name, phrase=phrase,
                 passphrase=passphrase or None, labels=labels, policy=_policy(policy))  # fmt: skip


def get_wallet(name: str) -> Call[m.Wallet]:
    """A wallet's metadata (never its phrase)."""
    return _get(_wallet(name), _wallet_of)


def wallet_xpub(name: str, path: str = "m/84'/0'/0'") -> Call[m.Xpub]:
    """The extended public key at ``path`` (watch-only export)."""
    return _get(_wallet(name, "xpub"), _decoder(m.Xpub), (("path", path),))


def wallet_addresses(
    name: str,
    chain: str,
    *,
    account: int = 0,
    change: int = 0,
    start: int = 0,
    count: int = 20,
    kind: str | None = None,
    network: str = "mainnet",
) -> Call[list[m.Address]]:
    """Addresses ``start`` … ``start + count - 1`` of an account (``bitcoin``, ``ethereum`` or ``solana``)."""
    return _post(_wallet(name, "addresses"), lambda b: _addresses.decode(b).addresses, chain=chain,
                 account=account, change=change, start=start, count=count, kind=kind, network=network)  # fmt: skip


def wallet_sign(
    name: str,
    scheme: str,
    *,
    path: str | None = None,
    chain: str | None = None,
    account: int = 0,
    change: int = 0,
    index: int = 0,
    kind: str | None = None,
    payload: bytes | None = None,
    digest: bytes | None = None,
    chain_id: int | None = None,
) -> Call[m.WalletSignature]:
    """Signs ``payload`` or ``digest`` with the key at ``path`` (or ``chain``/``account``/``change``/``index``).

    ``scheme``: ``bitcoin-ecdsa``, ``bitcoin-taproot``, ``bitcoin-message``, ``ethereum-personal``,
    ``ethereum-digest`` or ``solana``.
    """
    fields: dict[str, Any] = {"scheme": scheme, "path": path, "payload": payload, "digest": digest,
                              "chain_id": chain_id, "kind": kind}  # fmt: skip
    if path is None:
        fields.update(chain=chain, account=account, change=change, index=index)
    return _post(_wallet(name, "sign"), _decoder(m.WalletSignature), **fields)


# -- random, hash, sys ---------------------------------------------------------------------------------


def random(n: int = 32) -> Call[bytes]:
    """``n`` bytes from the server's CSPRNG (1 to 1024)."""
    return _post("/v1/random", lambda b: _random.decode(b).random, bytes=n)


def hash(algorithm: str, data: bytes) -> Call[bytes]:
    """The digest of ``data`` (``sha256``, ``sha3-256``, ``blake2b``, ``blake3``…)."""
    return _post("/v1/hash", lambda b: _digest.decode(b).digest, algorithm=algorithm, input=data)


def backup(recipient: str, names: Sequence[str] | None = None) -> Call[m.Backup]:
    """An encrypted bundle of the tenant's keys (or ``names``) for a registered backup recipient.

    A named key whose policy does not allow backup is refused (403); a whole-tenant backup leaves
    such keys out and lists them in ``skipped``.
    """
    fields: dict[str, Any] = {"recipient": recipient}
    if names is not None:
        fields["names"] = list(names)
    return _post("/v1/backup", _backup_of, **fields)


def register_backup_recipient(name: str, public_key: bytes) -> Call[m.BackupRecipient]:
    """Registers an X-Wing public key (``skms backup keypair``) that backups may be encrypted for (admin)."""
    return _post("/v1/backup/recipients", _recipient_of, name=name, public_key=public_key)


def list_backup_recipients() -> Call[list[m.BackupRecipient]]:
    """The tenant's registered backup recipients."""
    return _get("/v1/backup/recipients", lambda b: _recipients.decode(b).recipients)


def delete_backup_recipient(name: str) -> Call[None]:
    """Removes a backup recipient (admin): no backup can be made for it any more."""
    return Call("DELETE", f"/v1/backup/recipients/{_seg(name)}", lambda b: None)


def restore(bundle: bytes, backup_private_key: bytes, *, overwrite: bool = False) -> Call[m.Restored]:
    """Recreates a bundle's keys in the tenant (the private key travels to the server for this)."""
    return _post(
        "/v1/restore", _restored.decode, bundle=bundle, backup_private_key=backup_private_key, overwrite=overwrite
    )


# -- security: API keys, policies, audit ----------------------------------------------------------

_json_any = msgspec.json.Decoder()


def create_api_key(
    principal: str, roles: Sequence[str], *, description: str = "", ttl: float | None = None
) -> Call[dict[str, Any]]:
    """A new API key for ``principal`` with ``roles``: ``{"token", "api_key"}`` (the token is shown once)."""
    return _post(
        "/v1/auth/api-keys", _json_any.decode, principal=principal, roles=list(roles), description=description, ttl=ttl
    )


def list_api_keys() -> Call[dict[str, Any]]:
    """The tenant's API keys (never their secrets)."""
    return _get("/v1/auth/api-keys", _json_any.decode)


def revoke_api_key(key_id: str) -> Call[None]:
    """Revokes an API key."""
    return Call("DELETE", f"/v1/auth/api-keys/{_seg(key_id)}", lambda b: None)


def put_policy(document: Mapping[str, Any]) -> Call[dict[str, Any]]:
    """Creates or replaces a policy document (``name``, ``statements``, ``description``)."""
    return Call("PUT", f"/v1/authz/policies/{_seg(str(document.get('name', '')))}", _json_any.decode,
                body=msgspec.json.encode(dict(document)))  # fmt: skip


def get_policy(name: str) -> Call[dict[str, Any]]:
    """A policy document (built-in roles included)."""
    return _get(f"/v1/authz/policies/{_seg(name)}", _json_any.decode)


def list_policies() -> Call[list[dict[str, Any]]]:
    """Built-in roles and the tenant's custom policies."""
    return _get("/v1/authz/policies", _json_any.decode)


def delete_policy(name: str) -> Call[None]:
    """Deletes a custom policy."""
    return Call("DELETE", f"/v1/authz/policies/{_seg(name)}", lambda b: None)


def bind_principal(principal: str, *, roles: Sequence[str] = (), policies: Sequence[str] = ()) -> Call[dict[str, Any]]:
    """Gives a principal these roles and policies (replacing its binding)."""
    return Call("PUT", f"/v1/authz/principals/{_seg(principal)}", _json_any.decode,
                body=msgspec.json.encode({"roles": list(roles), "policies": list(policies)}))  # fmt: skip


def get_binding(principal: str) -> Call[dict[str, Any]]:
    """The roles and policies bound to a principal."""
    return _get(f"/v1/authz/principals/{_seg(principal)}", _json_any.decode)


def simulate(
    principal: str, action: str, resource: str, *, roles: Sequence[str] = (), source: str | None = None
) -> Call[dict[str, Any]]:
    """The decision for ``principal`` doing ``action`` on ``resource``, and the statement that decided it."""
    return _post(
        "/v1/authz/simulate", _json_any.decode, principal=principal, action=action, resource=resource,
        roles=list(roles), source=source,
    )  # fmt: skip


def audit(*, limit: int = 100, cursor: str | None = None, **filters: str | float | None) -> Call[dict[str, Any]]:
    """Audit records (``principal``, ``action``, ``resource``, ``result``, ``since``, ``until`` filters)."""
    params = [(k, str(v)) for k, v in filters.items() if v is not None] + [("limit", str(limit))]
    if cursor is not None:
        params.append(("cursor", cursor))
    return _get("/v1/audit", _json_any.decode, params)


def verify_audit(witness: Sequence[dict[str, Any]] | None = None) -> Call[dict[str, Any]]:
    """Checks every audit chain; names the first changed, missing or moved record.

    ``witness``: the checkpoints a witness kept (the JSON lines of an ``audit_witness`` file, as
    objects); the server then also names chains, tails and checkpoints deleted from its database."""
    if witness is None:
        return _get("/v1/audit/verify", _json_any.decode)
    return _post("/v1/audit/verify", _json_any.decode, witness=list(witness))


def health() -> Call[m.Health]:
    """Liveness: ``status == "ok"`` while the process serves."""
    return _get("/v1/sys/health", _health_of)


def ready() -> Call[m.Health]:
    """Readiness: raises :class:`~skms.errors.Sealed` (no retry) while the store is sealed."""
    return Call("GET", "/v1/sys/ready", _health_of)


def seal_status() -> Call[m.SealStatus]:
    """Whether the store is initialized and sealed, and how it unseals."""
    return _get("/v1/sys/seal-status", _seal_status_of)


def init(
    method: str = "shamir",
    *,
    threshold: int = 3,
    shares: int = 5,
    passphrase: str | None = None,
    key_label: str | None = None,
) -> Call[m.InitResult]:
    """Initializes a new store (once): returns the admin token and, for ``shamir``, the unseal shares.

    ``keyfile`` uses the key file in the server's own configuration; ``pkcs11`` the server's HSM,
    whose AES-256 key ``key_label`` (made when missing) wraps the store's unseal key.
    """
    return _post("/v1/sys/init", _decoder(m.InitResult), method=method, threshold=threshold, shares=shares,
                 passphrase=passphrase, key_label=key_label)  # fmt: skip


def unseal(
    *, passphrase: str | None = None, shares: Sequence[str] | None = None, key: bytes | None = None
) -> Call[m.SealStatus]:
    """Unseals with the passphrase, ``threshold`` shares, or (a key-file store) the key file's 32 bytes."""
    return _post("/v1/sys/unseal", _seal_status_of, passphrase=passphrase,
                 shares=list(shares) if shares is not None else None, key=key)  # fmt: skip


def seal() -> Call[m.SealStatus]:
    """Seals: the server forgets every decrypted secret until unsealed again."""
    return Call("POST", "/v1/sys/seal", _seal_status_of)


def rotate_root() -> Call[m.RootRotation]:
    """Rotates the root key (admin): a new root wraps every data key; old ciphertexts still decrypt."""
    return Call("POST", "/v1/sys/rotate-root", _decoder(m.RootRotation))


def metrics() -> Call[str]:
    """The Prometheus metrics text."""
    return _get("/metrics", lambda b: b.decode("utf-8"))


#: Every builder, in the order the clients list them.
OPERATIONS = (
    create_key, list_keys, get_key, update_key, rotate_key, set_key_state, schedule_deletion, cancel_deletion,
    encrypt, encrypt_batch, decrypt, decrypt_batch, rewrap, rewrap_batch, datakey, sign, sign_batch, verify,
    verify_batch, hmac, hmac_batch, verify_hmac, verify_hmac_batch, encapsulate, decapsulate,
    create_wallet, import_wallet, get_wallet, wallet_xpub, wallet_addresses, wallet_sign,
    random, hash, health, ready, seal_status, init, unseal, seal, rotate_root, metrics, backup,
    register_backup_recipient, list_backup_recipients, delete_backup_recipient, restore,
    create_api_key, list_api_keys, revoke_api_key, put_policy, get_policy, list_policies, delete_policy,
    bind_principal, get_binding, simulate, audit, verify_audit,
)  # fmt: skip


def describe(method: Callable[..., Any], build: Callable[..., Call[Any]], owner: str) -> None:
    """Gives a client method the builder's name, docstring and signature (with ``self``, returning T)."""
    signature = inspect.signature(build)
    result = typing.get_args(signature.return_annotation)
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    method.__name__ = build.__name__
    method.__qualname__ = f"{owner}.{build.__name__}"
    method.__doc__ = build.__doc__
    method.__module__ = f"skms.client.{'_async' if owner.startswith('Async') else '_sync'}"
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[self_param, *signature.parameters.values()],
        return_annotation=result[0] if result else signature.return_annotation,
    )
