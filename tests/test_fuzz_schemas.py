"""Request bodies at the schema level (issue 13, "Also"): every request struct of every route.

1. Decoding: hypothesis-generated JSON, shaped by each struct's own type information (right types
   most of the time, wrong ones, unknown fields, extreme numbers, unicode, NUL, deep nesting in
   every field) and raw mutated bytes: ``msgspec.json.decode(..., type=Struct)`` gives a struct
   that round-trips, or a ``msgspec.DecodeError`` / ``ValidationError`` (the server's 400), never
   another exception.
2. Conversion to the domain: each decoded body is handed to the key service, wallet, hash and
   policy code as its route does; that raises only ``skms.errors.SKMSError`` subclasses (the
   server's 4xx problems), never IndexError, ValueError, OverflowError or RecursionError.

The structs come from the application's routes (``server_process.app_routes``), so a new route is
covered at once. Body size and depth limits in front of decoding are the server middleware's (see
``test_api_bad_input.py``); the HTTP-level property test is ``test_fuzz_api.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_support import BODY_STRUCTS, FIELD_VALUES, bodies, decodable_bodies, decode, nasty_text
from keys_support import unsealed
from skms.api import schemas as s
from skms.authz.policy import BUILTIN_ROLES, AccessRequest, evaluate
from skms.crypto import hashes
from skms.crypto.hybrid import XWingPublicKey
from skms.errors import SKMSError
from skms.keys import KeyService, backup
from skms.keys.seal import write_keyfile
from skms.keys.service import UNSET
from skms.keys.wallets import MAX_ADDRESSES
from skms.wallet import address_path

T = TypeVar("T")
TENANT = "fuzz"


@pytest.mark.parametrize("struct", BODY_STRUCTS, ids=lambda t: t.__name__)
@settings(max_examples=120, suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
@given(data=st.data())
def test_bodies_decode_to_a_struct_or_a_validation_error(struct: type[msgspec.Struct], data: st.DataObject) -> None:
    raw = data.draw(bodies(struct))
    decoded = decode(raw, struct)
    if decoded is not None:
        assert decode(msgspec.json.encode(decoded), struct) == decoded  # what was accepted round-trips


# -- conversion to the domain -------------------------------------------------------------------


class Loop:
    """An event loop in a thread, so that sync hypothesis tests can call the async key service."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


#: Keys every conversion may name: the right key for most routes and the wrong type for the rest.
POOL = {"fz-aes": "aes256-gcm", "fz-ed": "ed25519", "fz-p256": "ecdsa-p256", "fz-hmac": "hmac-sha256",
        "fz-kem": "ml-kem-768", "fz-x25519": "x25519"}  # fmt: skip
VICTIM = "fz-victim"  # for updates and state changes, which may leave a key unusable
WALLET = "fz-wallet"
NAMES = [*POOL, VICTIM, WALLET, "fz-missing"]


@pytest.fixture(scope="module")
def domain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Loop, KeyService]]:
    directory = tmp_path_factory.mktemp("fuzz-schemas")
    keyfile = str(directory / "unseal.key")
    write_keyfile(keyfile)
    loop = Loop()
    service = loop.run(unsealed(f"sqlite:///{directory / 'skms.db'}", keyfile))

    async def setup() -> None:
        for name, kind in {**POOL, VICTIM: "aes256-gcm"}.items():
            await service.create_key(TENANT, name, kind)
        await service.create_wallet(TENANT, WALLET, words=12)

    loop.run(setup())
    yield loop, service
    loop.run(service.close())
    loop.close()


Convert = Callable[[KeyService, str, Any], Awaitable[Any]]


async def _each(items: list[Any] | None, one: Callable[[Any], Awaitable[Any]]) -> None:
    """A batch runs item by item, as ``run_batch`` does: an SKMSError of one item does not stop the rest."""
    for item in (items or [])[:8]:
        try:
            await one(item)
        except SKMSError:
            continue


def _single(value: T | None) -> T:
    if value is None:
        raise SKMSError("no single value (the route answers 400)")
    return value


async def key_create(svc: KeyService, name: str, d: s.KeyCreate) -> None:
    policy = d.policy.to_dict() if d.policy else None
    await svc.create_key(
        TENANT, d.name, d.type, purpose=d.purpose, labels=d.labels, policy=policy, state=d.state
    )  # fmt: skip


async def key_update(svc: KeyService, name: str, d: s.KeyUpdate) -> None:
    await svc.update_key(
        TENANT, VICTIM,
        labels=unset_or(d.labels), policy=unset_or(d.policy, lambda p: p.to_dict()),
        min_version=unset_or(d.min_version),
    )  # fmt: skip


def unset_or(value: Any, convert: Callable[[Any], Any] | None = None) -> Any:
    if isinstance(value, msgspec.UnsetType):
        return UNSET
    return convert(value) if convert is not None else value


async def state_change(svc: KeyService, name: str, d: s.StateChange) -> None:
    await svc.set_state(TENANT, VICTIM, d.state)


async def encrypt(svc: KeyService, name: str, d: s.EncryptRequest) -> None:
    await _each(d.batch, lambda i: svc.encrypt(TENANT, name, i.plaintext, i.associated_data))
    await svc.encrypt(TENANT, name, _single(d.plaintext), d.associated_data)


async def decrypt(svc: KeyService, name: str, d: s.DecryptRequest) -> None:
    await _each(d.batch, lambda i: svc.decrypt(TENANT, name, i.ciphertext, i.associated_data))
    await _each(d.batch, lambda i: svc.rewrap(TENANT, name, i.ciphertext, i.associated_data))
    with contextlib.suppress(SKMSError):
        await svc.rewrap(TENANT, name, _single(d.ciphertext), d.associated_data)
    await svc.decrypt(TENANT, name, _single(d.ciphertext), d.associated_data)


async def datakey(svc: KeyService, name: str, d: s.DatakeyRequest) -> None:
    await _each(d.batch, lambda i: svc.datakey(TENANT, name, i.size, i.associated_data))
    await svc.datakey(TENANT, name, d.size, d.associated_data)


async def sign(svc: KeyService, name: str, d: s.SignRequest) -> None:
    await _each(d.batch, lambda i: svc.sign(TENANT, name, i.input, prehashed=i.prehashed))
    if d.batch:
        with contextlib.suppress(SKMSError):
            await svc.sign_batch(TENANT, name, [i.input for i in d.batch[:8]])
    await svc.sign(TENANT, name, _single(d.input), prehashed=d.prehashed)


async def verify(svc: KeyService, name: str, d: s.VerifyRequest) -> None:
    await _each(d.batch, lambda i: svc.verify(TENANT, name, i.input, i.signature, prehashed=i.prehashed))
    await svc.verify(TENANT, name, _single(d.input), _single(d.signature), prehashed=d.prehashed)


async def hmac(svc: KeyService, name: str, d: s.HmacRequest) -> None:
    async def one(item: s.HmacItem) -> None:
        if item.hmac is not None:
            await svc.verify_mac(TENANT, name, item.input, item.hmac)
        else:
            await svc.mac(TENANT, name, item.input)

    await _each(d.batch, one)
    await one(s.HmacItem(_single(d.input), d.hmac))


async def encapsulate(svc: KeyService, name: str, d: s.EncapsulateRequest) -> None:
    await _each(d.batch, lambda i: svc.encapsulate(TENANT, name))


async def decapsulate(svc: KeyService, name: str, d: s.DecapsulateRequest) -> None:
    await _each(d.batch, lambda i: svc.decapsulate(TENANT, name, i.ciphertext))
    await svc.decapsulate(TENANT, name, _single(d.ciphertext))


async def wallet_create(svc: KeyService, name: str, d: s.WalletCreate) -> None:
    policy = d.policy.to_dict() if d.policy else None
    if d.phrase is not None:
        await svc.import_wallet(
            TENANT, d.name, phrase=d.phrase, passphrase=d.passphrase, labels=d.labels, policy=policy
        )  # fmt: skip
        return
    await svc.create_wallet(
        TENANT, d.name, words=d.words, passphrase=d.passphrase, language=d.language, labels=d.labels, policy=policy
    )  # fmt: skip


async def addresses(svc: KeyService, name: str, d: s.AddressesRequest) -> None:
    # A valid count is cut to 20: a hundred thousand derivations per example would only cost time.
    count = min(d.count, 20) if 1 <= d.count <= MAX_ADDRESSES else d.count
    await svc.wallet_addresses(
        TENANT, name, chain=d.chain, account=d.account, change=d.change, start=d.start, count=count, kind=d.kind,
        network=d.network,
    )  # fmt: skip


async def wallet_sign(svc: KeyService, name: str, d: s.WalletSignRequest) -> None:
    path = d.path
    if path is None:
        path = address_path(_single(d.chain), d.account, d.change, d.index, d.kind)
    await svc.wallet_sign(
        TENANT, name, path=path, scheme=d.scheme, payload=d.payload, digest=d.digest, chain_id=d.chain_id
    )  # fmt: skip


async def wallet_xpub(svc: KeyService, name: str, path: str) -> None:
    await svc.wallet_xpub(TENANT, name, path)


async def hash_data(svc: KeyService, name: str, d: s.HashRequest) -> None:
    hashes.digest(d.algorithm, d.input)


async def simulate(svc: KeyService, name: str, d: s.SimulateRequest) -> None:
    request = AccessRequest(d.principal, tuple(d.roles), TENANT, d.action, d.resource, d.source, key_type=d.key_type,
                            key_labels=d.key_labels)  # fmt: skip
    evaluate([BUILTIN_ROLES[r] for r in d.roles if r in BUILTIN_ROLES], request)


async def recipient(svc: KeyService, name: str, d: s.RecipientCreate) -> None:
    XWingPublicKey.load(d.public_key)


async def restore(svc: KeyService, name: str, d: s.RestoreRequest) -> None:
    backup.open_bundle(d.bundle, d.backup_private_key)


#: The conversion of each route's body, as the route does it (route-level count and batch checks aside).
CONVERSIONS: dict[type[msgspec.Struct], Convert] = {
    s.KeyCreate: key_create,
    s.KeyUpdate: key_update,
    s.StateChange: state_change,
    s.EncryptRequest: encrypt,
    s.DecryptRequest: decrypt,
    s.DatakeyRequest: datakey,
    s.SignRequest: sign,
    s.VerifyRequest: verify,
    s.HmacRequest: hmac,
    s.EncapsulateRequest: encapsulate,
    s.DecapsulateRequest: decapsulate,
    s.WalletCreate: wallet_create,
    s.AddressesRequest: addresses,
    s.WalletSignRequest: wallet_sign,
    s.HashRequest: hash_data,
    s.SimulateRequest: simulate,
    s.RecipientCreate: recipient,
    s.RestoreRequest: restore,
}


@pytest.mark.parametrize("struct", list(CONVERSIONS), ids=lambda t: t.__name__)
@settings(
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.large_base_example],
)
@given(data=st.data())
def test_conversions_raise_only_skms_errors(
    domain: tuple[Loop, KeyService], struct: type[msgspec.Struct], data: st.DataObject
) -> None:
    loop, svc = domain
    decoded = decode(data.draw(decodable_bodies(struct)), struct)
    if decoded is None:
        return
    wallet_route = struct in (s.AddressesRequest, s.WalletSignRequest)
    name = data.draw(st.sampled_from([WALLET, WALLET, WALLET, "fz-aes"] if wallet_route else NAMES))
    with contextlib.suppress(SKMSError):
        loop.run(CONVERSIONS[struct](svc, name, decoded))


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(path=st.one_of(FIELD_VALUES["path"], nasty_text))
def test_xpub_path_query_raises_only_skms_errors(domain: tuple[Loop, KeyService], path: str) -> None:
    loop, svc = domain
    with contextlib.suppress(SKMSError):
        loop.run(wallet_xpub(svc, WALLET, path))


def test_every_body_struct_is_decoded_and_every_convertible_one_converted() -> None:
    """A new request struct is fuzzed by decoding at once; its conversion needs an entry above."""
    assert set(CONVERSIONS) <= set(BODY_STRUCTS)
    decode_only = {t.__name__ for t in BODY_STRUCTS} - {t.__name__ for t in CONVERSIONS}
    # These are converted by code another test owns (init/unseal, API keys, bindings, backups, audit witness).
    assert decode_only <= {
        "InitRequest", "UnsealRequest", "ApiKeyCreate", "BindingIn", "BackupRequest", "PolicyDocument", "RandomRequest",
        "VerifyWithWitness",
    }, decode_only  # fmt: skip


def test_struct_fields_are_generated() -> None:
    """The generator reaches every field of every struct (a struct it cannot shape would be fuzzed only as junk)."""
    for struct in BODY_STRUCTS:
        info = mi.type_info(struct)
        assert isinstance(info, mi.StructType)
