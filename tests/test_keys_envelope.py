"""Envelope encryption at rest, on SQLite and PostgreSQL: rows moved to another key or
version, flipped bytes and changed metadata fail with IntegrityError; no secret (root
key, data keys, key material, wallet phrase or seed) is ever written in the clear."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from keys_support import sql
from skms.errors import IntegrityError, UnsealFailed
from skms.keys import KeyService
from skms.storage.postgres import PostgresStore
from skms.storage.sqlite import SqliteStore
from skms.wallet import Mnemonic

pytestmark = pytest.mark.anyio

T = "acme"


async def _key_id(svc: KeyService, name: str, tenant: str = T) -> str:
    return (await svc.get_key(tenant, name)).id


async def _material(svc: KeyService, key_id: str, version: int) -> bytes:
    rows = await sql(svc.store, "SELECT material FROM key_versions WHERE key_id = ? AND version = ?", key_id, version)
    return bytes(rows[0][0])


async def _set_material(svc: KeyService, key_id: str, version: int, blob: bytes | None) -> None:
    await sql(svc.store, "UPDATE key_versions SET material = ? WHERE key_id = ? AND version = ?", blob, key_id, version)
    svc.purge()  # forget cached metadata, data keys and key objects


async def _two_keys(svc: KeyService) -> dict[str, Any]:
    """Key a with versions 1 and 2, key b with version 1, and a ciphertext of each version."""
    await svc.create_key(T, "a", "aes256-gcm")
    a1, _ = await svc.encrypt(T, "a", b"a1")
    await svc.rotate_key(T, "a")
    a2, _ = await svc.encrypt(T, "a", b"a2")
    await svc.create_key(T, "b", "aes256-gcm")
    b1, _ = await svc.encrypt(T, "b", b"b1")
    return {"a": await _key_id(svc, "a"), "b": await _key_id(svc, "b"), "a1": a1, "a2": a2, "b1": b1}


async def test_material_moved_to_another_version(svc: KeyService) -> None:
    k = await _two_keys(svc)
    await _set_material(svc, k["a"], 2, await _material(svc, k["a"], 1))
    with pytest.raises(IntegrityError):
        await svc.decrypt(T, "a", k["a2"])
    assert await svc.decrypt(T, "a", k["a1"]) == b"a1"


async def test_versions_swapped(svc: KeyService) -> None:
    k = await _two_keys(svc)
    m1, m2 = await _material(svc, k["a"], 1), await _material(svc, k["a"], 2)
    await _set_material(svc, k["a"], 1, m2)
    await _set_material(svc, k["a"], 2, m1)
    for text in (k["a1"], k["a2"]):
        with pytest.raises(IntegrityError):
            await svc.decrypt(T, "a", text)
    with pytest.raises(IntegrityError):
        await svc.encrypt(T, "a", b"x")
    await _set_material(svc, k["a"], 1, m1)
    await _set_material(svc, k["a"], 2, m2)
    assert await svc.decrypt(T, "a", k["a2"]) == b"a2"


async def test_material_moved_to_another_key(svc: KeyService) -> None:
    k = await _two_keys(svc)
    await _set_material(svc, k["b"], 1, await _material(svc, k["a"], 1))
    with pytest.raises(IntegrityError):
        await svc.decrypt(T, "b", k["b1"])
    with pytest.raises(IntegrityError):
        await svc.decrypt(T, "b", k["a1"])


async def test_whole_row_moved_to_another_key(svc: KeyService) -> None:
    """Material and wrapped data key both copied: the data key is bound to its key id."""
    k = await _two_keys(svc)
    dek = (await sql(svc.store, "SELECT wrapped_dek FROM keys WHERE id = ?", k["a"]))[0][0]
    await sql(svc.store, "UPDATE keys SET wrapped_dek = ? WHERE id = ?", bytes(dek), k["b"])
    await _set_material(svc, k["b"], 1, await _material(svc, k["a"], 1))
    for text in (k["a1"], k["b1"]):
        with pytest.raises(IntegrityError):
            await svc.decrypt(T, "b", text)


async def test_every_flipped_byte_fails(svc: KeyService) -> None:
    k = await _two_keys(svc)
    wrapped = bytes((await sql(svc.store, "SELECT wrapped_dek FROM keys WHERE id = ?", k["a"]))[0][0])
    for i in range(len(wrapped)):
        flipped = bytearray(wrapped)
        flipped[i] ^= 0x80
        await sql(svc.store, "UPDATE keys SET wrapped_dek = ? WHERE id = ?", bytes(flipped), k["a"])
        svc.purge()
        with pytest.raises(IntegrityError):
            await svc.decrypt(T, "a", k["a1"])
    await sql(svc.store, "UPDATE keys SET wrapped_dek = ? WHERE id = ?", wrapped, k["a"])
    material = await _material(svc, k["a"], 1)
    for i in range(len(material)):
        flipped = bytearray(material)
        flipped[i] ^= 0x01
        await _set_material(svc, k["a"], 1, bytes(flipped))
        with pytest.raises(IntegrityError):
            await svc.decrypt(T, "a", k["a1"])
    for truncated in (material[:-1], material[:27], b""):
        await _set_material(svc, k["a"], 1, truncated)
        with pytest.raises(IntegrityError):
            await svc.decrypt(T, "a", k["a1"])
    await _set_material(svc, k["a"], 1, material)
    assert await svc.decrypt(T, "a", k["a1"]) == b"a1"
    assert await svc.decrypt(T, "b", k["b1"]) == b"b1"


@pytest.mark.parametrize(
    ("column", "value"),
    [("type", "chacha20-poly1305"), ("purpose", "mac"), ("root_id", 2), ("tenant", "evil")],
)
async def test_metadata_columns_bound(svc: KeyService, column: str, value: Any) -> None:
    k = await _two_keys(svc)
    await sql(svc.store, f"UPDATE keys SET {column} = ? WHERE id = ?", value, k["a"])
    svc.purge()
    tenant = value if column == "tenant" else T
    with pytest.raises(IntegrityError):
        await svc.decrypt(tenant, "a", k["a1"])
    with pytest.raises(IntegrityError):
        await svc.encrypt(tenant, "a", b"x")
    assert await svc.decrypt(T, "b", k["b1"]) == b"b1"


async def test_signing_key_type_changed(svc: KeyService) -> None:
    """An Ed25519 key relabelled secp256k1 (same 32-byte size) must not sign as secp256k1."""
    await svc.create_key(T, "ed", "ed25519")
    await sql(svc.store, "UPDATE keys SET type = 'ecdsa-secp256k1' WHERE id = ?", await _key_id(svc, "ed"))
    svc.purge()
    with pytest.raises(IntegrityError):
        await svc.sign(T, "ed", b"m")


async def test_tampered_seal_record(svc: KeyService, open_service: Any) -> None:
    await svc.create_key(T, "k", "aes256-gcm")
    wrapped, root_id = (await sql(svc.store, "SELECT wrapped_root, root_id FROM seal"))[0]
    flipped = bytearray(wrapped)
    flipped[20] ^= 0x01
    await sql(svc.store, "UPDATE seal SET wrapped_root = ?", bytes(flipped))
    with pytest.raises(UnsealFailed):
        await open_service()
    await sql(svc.store, "UPDATE seal SET wrapped_root = ?, root_id = ?", bytes(wrapped), root_id + 1)
    with pytest.raises(UnsealFailed):
        await open_service()
    await sql(svc.store, "UPDATE seal SET root_id = ?", root_id)
    other = await open_service()
    assert (await other.encrypt(T, "k", b"x"))[1] == 1


# --------------------------------------------------------------------------- nothing in the clear


async def _secrets(svc: KeyService) -> dict[str, bytes]:
    """Creates keys (several versions) and a wallet; returns every secret that must not be at rest."""
    out: dict[str, bytes] = {"root": svc.sealer.root()[0].expose_secret()}
    for alg in ("aes256-gcm", "ed25519", "ecdsa-secp256k1", "hmac-sha256", "ml-kem-768", "rsa-3072"):
        name = alg.replace("+", "_")
        await svc.create_key(T, name, alg)
        await svc.rotate_key(T, name)
        for version in (1, 2):
            record, _, material = await svc.raw_material(T, name, version)
            out[f"{alg} v{version}"] = material.expose_secret()
        out[f"{alg} dek"] = svc._dek(record).expose_secret()
    _, phrase = await svc.create_wallet(T, "wallet", words=24, passphrase="extra words")
    out["wallet phrase"] = phrase.encode()
    out["wallet entropy"] = Mnemonic.from_phrase(phrase).entropy().expose_secret()
    out["wallet seed"] = Mnemonic.from_phrase(phrase).to_seed("extra words").expose_secret()
    record, _, _ = await svc.raw_material(T, "wallet", None)
    out["wallet dek"] = svc._dek(record).expose_secret()
    return out


def _leaks(blob: bytes, secrets: dict[str, bytes]) -> list[str]:
    lowered = blob.lower()
    found = []
    for what, secret in secrets.items():
        # A 16-byte window of each secret, raw and as hex: a partial leak counts too.
        window = secret[:16]
        if window in blob or window.hex().encode() in lowered:
            found.append(what)
    return found


async def _pg_files(store: PostgresStore, wal_start: str) -> bytes:
    """The bytes on disk of the key tables (and their TOAST tables) and of the WAL segments from ``wal_start``."""
    async with store.pool.acquire() as conn:
        await conn.execute("CHECKPOINT")
        paths = await conn.fetch(
            "SELECT pg_relation_filepath(c.oid) FROM pg_class c WHERE c.oid IN ("
            "  SELECT x::regclass FROM unnest(ARRAY['keys', 'key_versions', 'seal']) x"
            "  UNION SELECT reltoastrelid FROM pg_class WHERE oid IN ('keys'::regclass, 'key_versions'::regclass)"
            "  AND reltoastrelid <> 0)"
        )
        data = b"".join([await conn.fetchval("SELECT pg_read_binary_file($1)", p[0]) for p in paths])
        last = await conn.fetchval("SELECT pg_walfile_name(pg_current_wal_lsn())")
        for segment in sorted({wal_start, last}):
            with contextlib.suppress(asyncpg.UndefinedFileError):  # recycled already
                data += await conn.fetchval("SELECT pg_read_binary_file($1)", f"pg_wal/{segment}")
        return data


async def test_nothing_in_the_clear_at_rest(svc: KeyService, tmp_path: Path) -> None:
    wal_start = ""
    if isinstance(svc.store, PostgresStore):
        wal_start = await svc.store.pool.fetchval("SELECT pg_walfile_name(pg_current_wal_lsn())")
    secrets = await _secrets(svc)
    key_id = await _key_id(svc, "wallet")
    # Every row the store holds, as the driver returns it.
    rows = b""
    for table in ("keys", "key_versions", "seal"):
        for row in await sql(svc.store, f"SELECT * FROM {table}"):
            rows += b"|".join(bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in row)
    assert _leaks(rows, secrets) == []
    assert _leaks(rows, {"sanity": rows[-40:]}) == ["sanity"]  # the check itself finds what is there
    # And the bytes on disk.
    if isinstance(svc.store, SqliteStore):
        path = Path(svc.store.path)
        files = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        await svc.close()
        files += b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    else:
        assert isinstance(svc.store, PostgresStore)
        files = await _pg_files(svc.store, wal_start)
    # The files read hold the tables (a key id is there) but no secret.
    assert key_id.encode() in files
    assert _leaks(files, secrets) == []
