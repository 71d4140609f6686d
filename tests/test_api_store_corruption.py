"""Corruption at rest is the server's fault (issue 13, defect 12), on SQLite and PostgreSQL.

A wrapped data key or a version's material altered in the database answers every request that
needs it with 500 ``store-corrupted`` (never a 4xx, which would blame the client), raises
``skms_store_corruption_total`` and logs a line naming the row. A ciphertext the client altered
is still the client's 400 ``IntegrityError``; keys whose rows are intact keep working.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

import asyncpg

from server_process import ServerProcess, assert_problem, b64, server_fixture

server = server_fixture()


def execute(server: ServerProcess, statement: str, *args: Any) -> None:
    if server.backend == "sqlite":
        with sqlite3.connect(server.data_dir / "skms.db") as conn:
            conn.execute(statement.replace("$1", "?").replace("$2", "?"), args)
        return

    async def run() -> None:
        conn = await asyncpg.connect(server.env["SKMS_DATABASE_URL"])
        try:
            await conn.execute(statement, *args)
        finally:
            await conn.close()

    asyncio.run(run())


def flip_last_byte(blob: bytes) -> bytes:
    return blob[:-1] + bytes([blob[-1] ^ 1])


def key_id(server: ServerProcess, name: str) -> str:
    return str(server.client().get(f"/v1/keys/{name}").json()["id"])


def read_blob(server: ServerProcess, statement: str, *args: Any) -> bytes:
    if server.backend == "sqlite":
        with sqlite3.connect(server.data_dir / "skms.db") as conn:
            return bytes(conn.execute(statement.replace("$1", "?").replace("$2", "?"), args).fetchone()[0])

    async def run() -> bytes:
        conn = await asyncpg.connect(server.env["SKMS_DATABASE_URL"])
        try:
            return bytes(await conn.fetchval(statement, *args))
        finally:
            await conn.close()

    return asyncio.run(run())


def test_tampered_rows_answer_500_store_corrupted_and_are_logged(server: ServerProcess) -> None:
    api = server.client()
    for name, kind in (("dek-tampered", "ed25519"), ("material-tampered", "aes256-gcm"), ("intact", "ed25519")):
        assert api.post("/v1/keys", json={"name": name, "type": kind}).status_code == 201
    ciphertext = api.post("/v1/keys/material-tampered/encrypt", json={"plaintext": b64(b"x")}).json()["ciphertext"]
    dek_key, material_key = key_id(server, "dek-tampered"), key_id(server, "material-tampered")
    wrapped = read_blob(server, "SELECT wrapped_dek FROM keys WHERE id = $1", dek_key)
    execute(server, "UPDATE keys SET wrapped_dek = $1 WHERE id = $2", flip_last_byte(wrapped), dek_key)
    material = read_blob(server, "SELECT material FROM key_versions WHERE key_id = $1 AND version = 1", material_key)
    execute(
        server,
        "UPDATE key_versions SET material = $1 WHERE key_id = $2 AND version = 1",
        flip_last_byte(material),
        material_key,
    )
    server.restart()  # no worker holds the good rows in its caches any more
    api = server.client()
    for _ in range(4):  # both workers
        r = server.fresh_request("POST", "/v1/keys/dek-tampered/sign", json={"input": b64(b"m")})
        problem = assert_problem(r, 500, title="StoreCorrupted")
        assert problem["type"].endswith("/store-corrupted") and dek_key in problem["detail"]
        r = server.fresh_request("POST", "/v1/keys/material-tampered/decrypt", json={"ciphertext": ciphertext})
        assert_problem(r, 500, title="StoreCorrupted")
        assert server.fresh_request("POST", "/v1/keys/intact/sign", json={"input": b64(b"m")}).status_code == 200
    # The client's own altered ciphertext is still the client's error.
    intact = api.post("/v1/keys", json={"name": "intact-aead", "type": "aes256-gcm"})
    assert intact.status_code == 201
    good = api.post("/v1/keys/intact-aead/encrypt", json={"plaintext": b64(b"y")}).json()["ciphertext"]
    prefix, _, body = good.rpartition(":")
    altered = prefix + ":" + ("A" if body[0] != "A" else "B") + body[1:]
    assert_problem(api.post("/v1/keys/intact-aead/decrypt", json={"ciphertext": altered}), 400, title="IntegrityError")
    counted = 0.0
    for _ in range(8):
        for line in server.fresh_request("GET", "/metrics").text.splitlines():
            if line.startswith("skms_store_corruption_total"):
                counted = max(counted, float(line.rsplit(" ", 1)[1]))
    assert counted >= 1
    logged = []
    for line in server.stderr_path.read_text().splitlines():
        if line.startswith("{") and "failed authentication" in line:
            entry = json.loads(line)
            if entry.get("logger") == "skms.keys":
                logged.append(entry["row"]["key_id"])
    assert dek_key in logged and material_key in logged, logged
