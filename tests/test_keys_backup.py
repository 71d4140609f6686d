"""Backup, restore and escrow (skms.keys.backup), on SQLite and PostgreSQL.

A backup restored into an empty SKMS reproduces every key, version (numbers, states, timestamps),
policy, label, minimum version and wallet; data protected before the backup is usable after it.
Any changed byte, or the wrong private key, is refused. Escrow shares recover with any M of N.
"""

import asyncio
import hashlib
import itertools
import json
import os
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from conftest import require_service
from skms._native import SecretBytes
from skms.crypto.hybrid import XWingKey
from skms.crypto.registry import CryptoPolicy
from skms.errors import (
    AlgorithmNotAllowed,
    Conflict,
    Forbidden,
    IntegrityError,
    InvalidInput,
    InvalidKey,
    InvalidState,
    NotFound,
    PolicyViolation,
    Sealed,
)
from skms.keys import KeyInfo, KeyService, backup
from skms.keys.seal import write_keyfile
from skms.keys.transfer import INTERNAL_TENANT
from skms.storage.base import KeyFilter

T0 = 1_800_000_000.0
MESSAGE = b"kept across a restore"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


# -- stores ---------------------------------------------------------------------------------------


async def _admin(dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(urlunsplit(urlsplit(dsn)._replace(path="/postgres")))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two empty stores of one backend: a source and a restore target."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'source.db'}", f"sqlite:///{tmp_path / 'target.db'}"
        return
    dsn = require_service("postgresql")
    names = [f"skms_backup_{secrets.token_hex(6)}" for _ in range(2)]
    for name in names:
        asyncio.run(_admin(dsn, f'CREATE DATABASE "{name}"'))
    try:
        first, second = (urlunsplit(urlsplit(dsn)._replace(path=f"/{n}")) for n in names)
        yield first, second
    finally:
        for name in names:
            asyncio.run(_admin(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _keyfile(path: Path) -> str:
    write_keyfile(str(path))
    return str(path)


async def open_service(url: str, keyfile: str, **options: Any) -> KeyService:
    service = await KeyService.open(url, **options)
    if await service.sealer.initialized():
        await service.sealer.unseal(keyfile=keyfile)
    else:
        await service.sealer.initialize("keyfile", keyfile=keyfile)
    return service


def run_pair(
    urls: tuple[str, str],
    tmp_path: Path,
    body: Callable[[KeyService, KeyService, Clock], Awaitable[None]],
    **target_options: Any,
) -> None:
    """Runs ``body(source, target, clock)``: two SKMS instances with their own root keys."""

    async def main() -> None:
        clock = Clock()
        source = await open_service(urls[0], _keyfile(tmp_path / "source.key"), clock=clock)
        target = await open_service(urls[1], _keyfile(tmp_path / "target.key"), **target_options)
        try:
            await body(source, target, clock)
        finally:
            await source.close()
            await target.close()

    asyncio.run(main())


@pytest.fixture
def sqlite_urls(tmp_path: Path) -> tuple[str, str]:
    return f"sqlite:///{tmp_path / 'source.db'}", f"sqlite:///{tmp_path / 'target.db'}"


@pytest.fixture(scope="module")
def backup_keys() -> tuple[SecretBytes, bytes]:
    return backup.create_backup_keypair()


# -- backups for a registered recipient ------------------------------------------------------------

ESCROW = "escrow"
#: Keys that go into backups say so when they are created (non-exportable keys stay out by default).
BACKUP = {"allow_backup": True}


async def bundle_of(
    service: KeyService, public: bytes, tenant: str | None = None, names: list[str] | None = None
) -> bytes:
    """A bundle for the recipient ``escrow`` (registered for ``tenant`` first, if need be)."""
    if ESCROW not in {r.name for r in await service.list_backup_recipients(tenant)}:
        await service.register_backup_recipient(tenant, ESCROW, public)
    result = await service.backup(tenant, names, recipient=ESCROW)
    assert result.recipient == ESCROW and result.skipped == ()
    return result.bundle


# -- a store with a bit of everything ----------------------------------------------------------------


async def populate(service: KeyService, clock: Clock) -> dict[str, Any]:
    """Keys in every state, rotated, trimmed, with policies, labels, wallets; two tenants."""
    made: dict[str, Any] = {}
    await service.create_key(
        "acme", "data", "aes256-gcm", labels={"team": "pay", "env": "prod"},
        policy={"rotation_period": 86_400, "version_ttl": 7 * 86_400, "exportable": True, "deletion_window": 3600},
    )  # fmt: skip
    made["old_ciphertext"], _ = await service.encrypt("acme", "data", MESSAGE, b"ad")
    for _ in range(3):
        clock.now += 100
        await service.rotate_key("acme", "data")
    made["ciphertext_v3"], _ = await service.encrypt("acme", "data", MESSAGE, b"ad")  # newest is v4
    await service.update_key("acme", "data", min_version=2)
    await service.trim_versions("acme", "data")  # version 1's material is destroyed

    clock.now += 10
    await service.create_key("acme", "signer", "ed25519", policy=BACKUP)
    made["signature"], _ = await service.sign("acme", "signer", MESSAGE)
    await service.set_state("acme", "signer", "suspended")

    await service.create_key("acme", "rsa", "rsa-3072", purpose="encrypt", policy=BACKUP)
    made["rsa_ciphertext"], _ = await service.encrypt("acme", "rsa", MESSAGE)
    await service.set_state("acme", "rsa", "compromised")

    await service.create_key("acme", "later", "hmac-sha256", state="pre-active", policy=BACKUP)
    await service.create_key("acme", "leaving", "ecdsa-secp256k1", policy=BACKUP)
    clock.now += 5
    await service.schedule_deletion("acme", "leaving", window=3600)
    await service.create_key("acme", "gone", "ml-kem-768", policy=BACKUP)
    await service.schedule_deletion("acme", "gone", window=0)

    _, made["phrase"] = await service.create_wallet("acme", "vault", words=12, labels={"kind": "hot"}, policy=BACKUP)
    made["xpub"] = await service.wallet_xpub("acme", "vault", "m/84'/0'/0'")
    await service.import_wallet("acme", "bip32", seed=bytes(range(16)), policy=BACKUP)
    made["bip32_xpub"] = await service.wallet_xpub("acme", "bip32", "m/0'")

    await service.create_key("beta", "pq", "ml-dsa-65", labels={"q": "safe"}, policy=BACKUP)
    made["pq_signature"], _ = await service.sign("beta", "pq", MESSAGE)
    await service.create_key("beta", "kem", "x25519+ml-kem-768", policy=BACKUP)
    made["shared"], made["encapsulated"], _ = await service.encapsulate("beta", "kem")
    # An import wrapping key lives in the internal tenant: it is not backed up.
    await service.get_import_parameters("acme", "ml-kem-768-aes-kwp")
    return made


async def everything(service: KeyService) -> dict[tuple[str, str], KeyInfo]:
    out = {}
    for tenant in ("acme", "beta"):
        page, _ = await service.list_keys(tenant, limit=1000)
        out.update({(tenant, k.name): k for k in page})
    return out


async def check_usable(target: KeyService, made: dict[str, Any], tenant: str = "acme") -> None:
    assert await target.decrypt(tenant, "data", made["ciphertext_v3"], b"ad") == MESSAGE
    with pytest.raises(PolicyViolation):  # version 1 is below the minimum (and trimmed)
        await target.decrypt(tenant, "data", made["old_ciphertext"], b"ad")
    _, version = await target.encrypt(tenant, "data", MESSAGE)
    assert version == 4
    assert await target.verify(tenant, "signer", MESSAGE, made["signature"])  # suspended keys verify
    assert await target.decrypt(tenant, "rsa", made["rsa_ciphertext"]) == MESSAGE  # compromised keys decrypt
    assert await target.wallet_xpub(tenant, "vault", "m/84'/0'/0'") == made["xpub"]
    assert await target.wallet_xpub(tenant, "bip32", "m/0'") == made["bip32_xpub"]


# -- tests ----------------------------------------------------------------------------------------


def test_backup_and_restore_everything(
    store_urls: tuple[str, str], tmp_path: Path, backup_keys: tuple[SecretBytes, bytes]
) -> None:
    private, public = backup_keys

    async def body(source: KeyService, target: KeyService, clock: Clock) -> None:
        made = await populate(source, clock)
        bundle = await bundle_of(source, public)
        assert bundle.startswith(b"SKMS-BACKUP\x00\x00\x01")
        assert MESSAGE not in bundle and made["phrase"].encode() not in bundle

        counts = await target.restore(bundle, private)
        before, after = await everything(source), await everything(target)
        assert counts == {"keys": len(before), "versions": sum(len(k.versions) for k in before.values()), "replaced": 0}
        assert after == before  # ids, versions, states, timestamps, policies, labels, meta: all the same
        for tenant, name in before:
            src = await source.store.get_key(tenant, name)
            dst = await target.store.get_key(tenant, name)
            assert (dst.next_rotation_at, dst.deletion_at, dst.destroyed_at) == (
                src.next_rotation_at, src.deletion_at, src.destroyed_at,
            )  # fmt: skip
            assert dst.wrapped_dek != src.wrapped_dek  # a new data key, under the target's root key
            materials = [v.material for v in await target.store.get_versions(dst.id)]
            expected = [v.material is None for v in await source.store.get_versions(src.id)]
            assert [m is None for m in materials] == expected
        assert (await target.get_key("acme", "data")).versions[0].state == "destroyed"
        assert (await target.get_key("acme", "gone")).state == "destroyed"
        # import wrapping keys (internal tenant) stay behind
        assert (await source.store.list_keys(INTERNAL_TENANT, KeyFilter(), 10, None))[0]
        assert (await target.store.list_keys(INTERNAL_TENANT, KeyFilter(), 10, None))[0] == []

        await check_usable(target, made)
        assert await target.verify("beta", "pq", MESSAGE, made["pq_signature"])
        assert await target.decapsulate("beta", "kem", made["encapsulated"]) == made["shared"]
        with pytest.raises(InvalidState, match="pre-active"):
            await target.mac("acme", "later", MESSAGE)
        with pytest.raises(InvalidState, match="scheduled for deletion"):
            await target.sign("acme", "leaving", MESSAGE)
        await target.cancel_deletion("acme", "leaving")
        assert (await target.sign("acme", "leaving", MESSAGE))[1] == 1

    run_pair(store_urls, tmp_path, body)


def test_restore_into_a_tenant_map_and_overwrite(
    store_urls: tuple[str, str], tmp_path: Path, backup_keys: tuple[SecretBytes, bytes]
) -> None:
    private, public = backup_keys

    async def body(source: KeyService, target: KeyService, clock: Clock) -> None:
        made = await populate(source, clock)
        bundle = await bundle_of(source, public, "acme")
        # into the same store, under another tenant: the ids are taken, so new ones are given
        counts = await source.restore(bundle, private, tenant_map={"acme": "acme-copy"})
        assert counts["keys"] == len((await source.list_keys("acme"))[0])
        for info in (await source.list_keys("acme"))[0]:
            copy = await source.get_key("acme-copy", info.name)
            assert copy.id != info.id and copy.versions == info.versions and copy.policy == info.policy
        await check_usable(source, made, "acme-copy")

        # the same bundle again: every name exists, nothing is written
        with pytest.raises(Conflict, match="overwrite"):
            await source.restore(bundle, private, tenant_map={"acme": "acme-copy"})

        # changes after the backup are undone by restoring with overwrite
        await source.rotate_key("acme", "data")
        await source.update_key("acme", "signer", labels={"changed": "yes"})
        await source.set_state("acme", "later", "active")
        old_id = (await source.get_key("acme", "data")).id
        counts = await source.restore(bundle, private, overwrite=True)
        assert counts["replaced"] == counts["keys"]
        data = await source.get_key("acme", "data")
        assert data.latest_version == 4 and data.id == old_id
        assert (await source.get_key("acme", "signer")).labels == {}
        assert (await source.get_key("acme", "later")).state == "pre-active"
        await check_usable(source, made)  # caches were invalidated: the restored versions are used
        assert (await source.encrypt("acme", "data", MESSAGE))[1] == 4

    run_pair(store_urls, tmp_path, body)


def test_backup_selection(sqlite_urls: tuple[str, str], tmp_path: Path, backup_keys: tuple[SecretBytes, bytes]) -> None:
    private, public = backup_keys

    async def body(source: KeyService, target: KeyService, clock: Clock) -> None:
        await populate(source, clock)
        bundle = await bundle_of(source, public, "acme", ["signer", "vault", "signer"])
        assert await target.restore(bundle, private) == {"keys": 2, "versions": 2, "replaced": 0}
        assert sorted(k.name for k in (await target.list_keys("acme"))[0]) == ["signer", "vault"]

        bundle = await bundle_of(source, public, "beta")
        assert (await target.restore(bundle, private))["keys"] == 2
        assert (await target.list_keys("beta"))[0]

        with pytest.raises(InvalidInput, match="tenant"):
            await source.backup(None, ["signer"], recipient=ESCROW)
        with pytest.raises(NotFound):
            await source.backup("acme", ["signer", "nope"], recipient=ESCROW)
        with pytest.raises(InvalidKey):
            await source.register_backup_recipient("acme", "short", public[:-1])
        with pytest.raises(InvalidInput, match="registered backup recipients"):  # a raw key is no recipient
            await source.backup("acme", recipient=public)  # type: ignore[arg-type]
        with pytest.raises(NotFound, match="no backup recipient named 'stranger'"):
            await source.backup("acme", recipient="stranger")
        with pytest.raises(PolicyViolation):
            await source.backup(INTERNAL_TENANT, recipient=ESCROW)
        empty = await bundle_of(source, public, "nobody")
        assert await target.restore(empty, private) == {"keys": 0, "versions": 0, "replaced": 0}

    run_pair(sqlite_urls, tmp_path, body)


def test_tampered_bundle_is_refused(
    sqlite_urls: tuple[str, str], tmp_path: Path, backup_keys: tuple[SecretBytes, bytes]
) -> None:
    private, public = backup_keys

    async def body(source: KeyService, target: KeyService, clock: Clock) -> None:
        await source.create_key("acme", "k", "aes256-gcm", policy=BACKUP)
        bundle = await bundle_of(source, public)
        for i in range(len(bundle)):  # every byte: header, KEM ciphertext, nonce, body, tag
            altered = bytearray(bundle)
            altered[i] ^= 0x40
            with pytest.raises(IntegrityError):
                backup.open_bundle(bytes(altered), private)
        for altered in (bundle[:-1], bundle + b"\0", bundle[:40], b"", b"SKMS-BACKUP\x00"):
            with pytest.raises(IntegrityError):
                backup.open_bundle(altered, private)
        for i in (0, 13, 20, len(bundle) - 1):  # and through restore, which writes nothing
            altered = bytearray(bundle)
            altered[i] ^= 1
            with pytest.raises(IntegrityError):
                await target.restore(bytes(altered), private)
        wrong, _ = backup.create_backup_keypair()
        with pytest.raises(IntegrityError):
            await target.restore(bundle, wrong)
        with pytest.raises(InvalidKey):
            await target.restore(bundle, private.expose_secret()[:31])
        assert (await target.list_keys("acme"))[0] == []
        assert (await target.restore(bundle, private.expose_secret()))["keys"] == 1  # bytes work too

    run_pair(sqlite_urls, tmp_path, body)


def test_restore_checks_before_writing(
    sqlite_urls: tuple[str, str], tmp_path: Path, backup_keys: tuple[SecretBytes, bytes]
) -> None:
    private, public = backup_keys

    async def body(source: KeyService, target: KeyService, clock: Clock) -> None:
        await source.create_key("acme", "a", "aes256-gcm", policy=BACKUP)
        await source.create_key("acme", "b", "hmac-sha256", policy=BACKUP)
        await source.create_key("other", "b", "aes256-gcm", policy=BACKUP)
        bundle = await bundle_of(source, public)
        await source.create_key("signers", "s", "ed25519", policy=BACKUP)
        with pytest.raises(AlgorithmNotAllowed):  # the target's crypto policy refuses ed25519
            await target.restore(await bundle_of(source, public, "signers"), private)
        with pytest.raises(InvalidInput, match="two keys"):
            await target.restore(bundle, private, tenant_map={"other": "acme"})
        with pytest.raises(PolicyViolation, match="reserved"):
            await target.restore(bundle, private, tenant_map={"acme": INTERNAL_TENANT})
        assert (await target.list_keys("acme"))[0] == []
        target.sealer.seal()
        with pytest.raises(Sealed):
            await target.restore(bundle, private, tenant_map={"acme": "x", "other": "y"})
        with pytest.raises(Sealed):
            await target.backup(recipient=ESCROW)

    run_pair(sqlite_urls, tmp_path, body, crypto_policy=CryptoPolicy(denied=frozenset({"ed25519"})))


def test_backup_keypair() -> None:
    private, public = backup.create_backup_keypair()
    assert isinstance(private, SecretBytes) and len(private) == 32 and len(public) == 1216
    assert XWingKey.load(private).public_key().export("raw") == public
    assert private.expose_secret().hex() not in repr(private)
    payload = os.urandom(100)
    assert backup.open_bundle(backup.seal_bundle(payload, public), private) == payload


# -- escrow ---------------------------------------------------------------------------------------


def test_escrow_any_m_of_n() -> None:
    private, public = backup.create_backup_keypair()
    shares = backup.split_backup_key(private, 3, 5)
    assert len(shares) == 5 and len(set(shares)) == 5
    for combo in itertools.combinations(shares, 3):
        assert backup.recover_backup_key(combo, public_key=public) == private
    assert backup.recover_backup_key(shares) == private  # more than enough works too
    assert backup.recover_backup_key([*shares[:3], shares[0]]) == private  # a repeated share counts once
    for combo in itertools.combinations(shares, 2):
        with pytest.raises(InvalidInput, match="too few"):
            backup.recover_backup_key(combo)
    with pytest.raises(InvalidInput):
        backup.recover_backup_key([])


def test_escrow_mixed_wrong_and_damaged_shares() -> None:
    private, public = backup.create_backup_keypair()
    shares = backup.split_backup_key(private, 2, 3)
    other = backup.split_backup_key(private, 2, 3)  # same key, another split
    stranger = backup.split_backup_key(backup.create_backup_keypair()[0], 2, 3)
    for mixed in ([shares[0], other[1]], [shares[0], stranger[1]], [shares[0], shares[0]]):
        with pytest.raises(InvalidInput) as caught:
            backup.recover_backup_key(mixed)
        message = str(caught.value)
        assert all(word not in message.split() for word in shares[0].split()[2:])  # no share words
    words = shares[1].split()
    words[5] = "zzzz"
    with pytest.raises(InvalidInput, match="mistyped") as caught:
        backup.recover_backup_key([shares[0], " ".join(words)])
    assert "zzzz" not in str(caught.value)
    words = shares[1].split()
    words[5], words[6] = words[6], words[5]
    if words != shares[1].split():
        with pytest.raises(InvalidInput, match="mistyped"):
            backup.recover_backup_key([shares[0], " ".join(words)])
    assert backup.recover_backup_key([shares[2], shares[0]], public_key=public) == private


def test_escrow_passphrase_and_parameters() -> None:
    private, public = backup.create_backup_keypair()
    shares = backup.split_backup_key(private, 2, 3, passphrase="correct horse")
    assert backup.recover_backup_key(shares[:2], passphrase="correct horse", public_key=public) == private
    assert backup.recover_backup_key(shares[:2]) != private  # SLIP-39: a wrong passphrase is another key
    with pytest.raises(IntegrityError, match="does not match"):
        backup.recover_backup_key(shares[:2], passphrase="wrong", public_key=public)
    single = backup.split_backup_key(private, 1, 1)
    assert backup.recover_backup_key(single) == private
    for threshold, count in ((0, 3), (4, 3), (1, 3), (2, 17)):
        with pytest.raises(InvalidInput):
            backup.split_backup_key(private, threshold, count)
    with pytest.raises(InvalidKey):
        backup.split_backup_key(SecretBytes(b"short"), 2, 3)


def test_escrowed_key_restores_a_backup(
    sqlite_urls: tuple[str, str], tmp_path: Path, backup_keys: tuple[SecretBytes, bytes]
) -> None:
    private, public = backup_keys
    shares = backup.split_backup_key(private, 3, 5, passphrase="escrow")

    async def body(source: KeyService, target: KeyService, clock: Clock) -> None:
        await source.create_key("acme", "k", "aes256-gcm", policy=BACKUP)
        text, _ = await source.encrypt("acme", "k", MESSAGE)
        bundle = await bundle_of(source, public)
        recovered = backup.recover_backup_key([shares[4], shares[1], shares[2]], passphrase="escrow")
        await target.restore(bundle, recovered)
        assert await target.decrypt("acme", "k", text) == MESSAGE
        with pytest.raises(IntegrityError):  # a wrong passphrase recovers a key that opens nothing
            await target.restore(bundle, backup.recover_backup_key(shares[:3], passphrase="oops"), overwrite=True)

    run_pair(sqlite_urls, tmp_path, body)


# -- issue 13: what may be backed up, for whom, and what a restore may change ----------------------------


def test_recipients_register_list_delete(
    store_urls: tuple[str, str], tmp_path: Path, backup_keys: tuple[SecretBytes, bytes]
) -> None:
    private, public = backup_keys

    async def body(source: KeyService, target: KeyService, clock: Clock) -> None:
        made = await source.register_backup_recipient("acme", "vault-a", public)
        assert (made.name, made.public_key, made.created_by) == ("vault-a", public, "local")
        assert made.fingerprint == hashlib.sha256(public).hexdigest() and made.created_at == T0
        assert await source.list_backup_recipients("acme") == [made]
        assert await source.list_backup_recipients("beta") == []  # per tenant
        assert await source.list_backup_recipients(None) == []  # store-wide ones are apart
        with pytest.raises(Conflict):
            await source.register_backup_recipient("acme", "vault-a", backup.create_backup_keypair()[1])
        for bad in (b"", public[:-1], b"\0" * 1216 + b"x"):
            with pytest.raises(InvalidKey):
                await source.register_backup_recipient("acme", "bad", bad)
        with pytest.raises(InvalidInput):
            await source.register_backup_recipient("acme", "no/slash", public)
        with pytest.raises(PolicyViolation):
            await source.register_backup_recipient(INTERNAL_TENANT, "sneaky", public)
        await source.create_key("acme", "k", "aes256-gcm", policy=BACKUP)
        result = await source.backup("acme", recipient="vault-a")
        assert result.keys == ("k",) and backup.open_bundle(result.bundle, private)
        with pytest.raises(NotFound):  # a recipient of another tenant is not this tenant's
            await source.backup("beta", recipient="vault-a")
        await source.delete_backup_recipient("acme", "vault-a")
        assert await source.list_backup_recipients("acme") == []
        with pytest.raises(NotFound, match="no backup recipient named 'vault-a'"):
            await source.backup("acme", recipient="vault-a")
        with pytest.raises(NotFound):
            await source.delete_backup_recipient("acme", "vault-a")

    run_pair(store_urls, tmp_path, body)


async def _flagged_keys(service: KeyService) -> None:
    await service.create_key("acme", "locked", "aes256-gcm")  # neither exportable nor backed up
    await service.create_key("acme", "escrowed", "ed25519", policy={"allow_backup": True})
    await service.create_key("acme", "open", "hmac-sha256", policy={"exportable": True})  # backup follows
    await service.create_key("acme", "no-backup", "aes256-gcm", policy={"exportable": True, "allow_backup": False})
    await service.create_wallet("acme", "cold", words=12)  # a wallet follows the same rules
    await service.create_wallet("acme", "warm", words=12, policy={"allow_backup": True})


def test_allow_backup_decides_what_a_bundle_holds(
    store_urls: tuple[str, str], tmp_path: Path, backup_keys: tuple[SecretBytes, bytes]
) -> None:
    private, public = backup_keys

    async def body(source: KeyService, target: KeyService, clock: Clock) -> None:
        await _flagged_keys(source)
        policies = {k.name: k.policy for k in (await source.list_keys("acme"))[0]}
        assert {n: (p["exportable"], p["allow_backup"]) for n, p in policies.items()} == {
            "locked": (False, False), "escrowed": (False, True), "open": (True, True),
            "no-backup": (True, False), "cold": (False, False), "warm": (False, True),
        }  # fmt: skip
        await source.register_backup_recipient("acme", ESCROW, public)
        # Naming a key that may not be backed up is refused, naming it: nothing is skipped silently.
        for name in ("locked", "no-backup", "cold"):
            with pytest.raises(Forbidden, match=f"'{name}' may not be backed up"):
                await source.backup("acme", ["escrowed", name], recipient=ESCROW)
        # A whole tenant: those keys are left out and reported.
        result = await source.backup("acme", recipient=ESCROW)
        assert sorted(result.skipped) == ["cold", "locked", "no-backup"]
        assert sorted(result.keys) == ["escrowed", "open", "warm"]
        inside = json.loads(backup.open_bundle(result.bundle, private))
        assert sorted(k["name"] for k in inside["keys"]) == ["escrowed", "open", "warm"]
        # Every tenant (library, store-wide recipient): the same rule, names with their tenant.
        await source.register_backup_recipient(None, ESCROW, public)
        everything = await source.backup(recipient=ESCROW)
        assert sorted(everything.skipped) == ["acme/cold", "acme/locked", "acme/no-backup"]
        # Restore keeps every flag.
        await target.restore(result.bundle, private)
        for info in (await target.list_keys("acme"))[0]:
            assert info.policy == policies[info.name]

    run_pair(store_urls, tmp_path, body)


def test_exportable_and_allow_backup_never_turn_on(sqlite_urls: tuple[str, str], tmp_path: Path) -> None:
    async def body(source: KeyService, target: KeyService, clock: Clock) -> None:
        await _flagged_keys(source)
        for name, change in (("locked", {"exportable": True}), ("locked", {"allow_backup": True}),
                             ("cold", {"exportable": True}), ("no-backup", {"allow_backup": True}),
                             ("escrowed", {"exportable": True, "rotation_period": 86_400})):  # fmt: skip
            before = await source.get_key("acme", name)
            flag = next(iter(change))
            with pytest.raises(InvalidState, match=f"{flag} cannot be turned on"):
                await source.update_key("acme", name, policy=change)
            assert (await source.get_key("acme", name)).policy == before.policy  # nothing written
        # Turning them off is fine, and final.
        info = await source.update_key("acme", "open", policy={"exportable": False})
        assert (info.policy["exportable"], info.policy["allow_backup"]) == (False, True)
        info = await source.update_key("acme", "open", policy={"allow_backup": False})
        assert info.policy["allow_backup"] is False
        with pytest.raises(InvalidState):
            await source.update_key("acme", "open", policy={"allow_backup": True})
        with pytest.raises(InvalidState):
            await source.update_key("acme", "open", policy={"exportable": True})
        # Unchanged flags pass; other fields still change.
        info = await source.update_key("acme", "escrowed", policy={"allow_backup": True, "rotation_period": 86_400})
        assert info.policy["rotation_period"] == 86_400 and info.policy["allow_backup"] is True
        with pytest.raises(InvalidInput):
            await source.create_key("acme", "typo", "aes256-gcm", policy={"allow_backup": "yes"})

    run_pair(sqlite_urls, tmp_path, body)


def test_keys_stored_before_allow_backup_follow_exportable(
    sqlite_urls: tuple[str, str], tmp_path: Path, backup_keys: tuple[SecretBytes, bytes]
) -> None:
    private, public = backup_keys

    async def body(source: KeyService, target: KeyService, clock: Clock) -> None:
        for name, exportable in (("old-closed", False), ("old-open", True)):
            await source.create_key("acme", name, "aes256-gcm", policy={"exportable": exportable})
            record = await source.store.get_key("acme", name)
            legacy = {k: v for k, v in record.policy.items() if k != "allow_backup"}
            await source.store.update_key(replace(record, policy=legacy))
        await source.register_backup_recipient("acme", ESCROW, public)
        result = await source.backup("acme", recipient=ESCROW)
        assert (result.keys, result.skipped) == (("old-open",), ("old-closed",))
        with pytest.raises(InvalidState):
            await source.update_key("acme", "old-closed", policy={"allow_backup": True})
        info = await source.update_key("acme", "old-open", policy={"exportable": False})
        assert info.policy["allow_backup"] is True  # what it had, written down
        # A bundle from before the flag: its keys get allow_backup = exportable, as they had.
        entries: list[dict[str, Any]] = []
        for name in ("old-closed", "old-open"):
            result = await source.backup("acme", ["old-open"], recipient=ESCROW)
            entry = json.loads(backup.open_bundle(result.bundle, private))["keys"][0]
            entry.update(name=name, id=str(uuid.uuid4()))
            entry["policy"] = {"exportable": name == "old-open", "deletion_window": 3600}
            entries.append(entry)
        document = {"format": backup.FORMAT_VERSION, "created_at": T0, "keys": entries}
        await target.restore(backup.seal_bundle(json.dumps(document).encode(), public), private)
        assert (await target.get_key("acme", "old-closed")).policy["allow_backup"] is False
        assert (await target.get_key("acme", "old-open")).policy["allow_backup"] is True

    run_pair(sqlite_urls, tmp_path, body)


def test_restore_never_loosens_the_key_it_replaces(
    store_urls: tuple[str, str], tmp_path: Path, backup_keys: tuple[SecretBytes, bytes]
) -> None:
    """Anyone can make a bundle for a key pair of their own: restoring one over a locked key must not
    make it exportable or backed up (and restore is an admin's act, see test_api_backup)."""
    private, public = backup_keys

    async def body(source: KeyService, target: KeyService, clock: Clock) -> None:
        await target.create_key("acme", "locked", "aes256-gcm")
        await target.create_key("acme", "escrowed", "aes256-gcm", policy={"allow_backup": True})
        text, _ = await target.encrypt("acme", "locked", MESSAGE)
        await source.create_key("acme", "locked", "aes256-gcm", policy={"exportable": True})
        await source.create_key("acme", "escrowed", "aes256-gcm", policy={"exportable": True})
        for name in ("locked", "escrowed"):
            bundle = await bundle_of(source, public, "acme", [name])
            with pytest.raises(Conflict, match=f"restoring over '{name}'.*exportable cannot be turned on"):
                await target.restore(bundle, private, overwrite=True)
        assert await target.decrypt("acme", "locked", text) == MESSAGE  # still the key it was
        # The same flags (or tighter ones) restore over it as before.
        await source.create_key("other", "locked", "aes256-gcm", policy={"allow_backup": True})
        bundle = await bundle_of(source, public, "other", ["locked"])
        with pytest.raises(Conflict, match="allow_backup cannot be turned on"):
            await target.restore(bundle, private, tenant_map={"other": "acme"}, overwrite=True)
        await source.create_key("other", "escrowed", "aes256-gcm", policy={"allow_backup": True})
        bundle = await bundle_of(source, public, "other", ["escrowed"])
        assert (await target.restore(bundle, private, tenant_map={"other": "acme"}, overwrite=True))["replaced"] == 1

    run_pair(store_urls, tmp_path, body)
