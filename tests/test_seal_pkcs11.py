"""Seal method ``pkcs11`` (issue 14 item 3) against a real SoftHSM2 token.

Library level (SQLite and PostgreSQL): ``initialize("pkcs11")`` makes (or uses) a sensitive,
non-extractable AES-256 key on the token that wraps the store's unseal key; the record holds
its label, never the PIN; another node unseals from the token alone; root rotation works with
the token as the unseal source; an operator's seal holds against auto-unseal and network unseal
until lifted with the token; a missing wrapping key is named.

Server processes: init over HTTP, then a cold start unseals itself (every worker) and decrypts
what was written before; an operator's seal holds across a restart and against ``POST
/v1/sys/unseal {}`` until ``skms operator lift-seal``; a wrong PIN, a missing token and a missing
wrapping key stop the start (non-zero exit) with a message naming which.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from hsm_support import SoftHsm
from keys_support import OpenService, sql
from server_support import free_port, skms_executable, start_server
from skms.client import Client
from skms.errors import InvalidInput, Sealed, UnsealFailed
from skms.keys import KeyService
from skms.keys.seal import OPERATOR_SEALED

pytestmark = pytest.mark.anyio

T = "acme"


def _label(stem: str) -> str:
    return f"{stem}-{os.urandom(4).hex()}"


async def _node(open_service: OpenService, softhsm: SoftHsm) -> KeyService:
    from skms.hsm import Hsm

    svc = await open_service(unseal=False)
    svc.sealer.hsm = Hsm(softhsm.config())
    return svc


# -- library level ---------------------------------------------------------------------------------


async def test_init_makes_a_non_extractable_wrapping_key_and_auto_unseals(
    open_service: OpenService, softhsm: SoftHsm
) -> None:
    from pkcs11 import Attribute, ObjectClass
    from pkcs11 import exceptions as px

    label = _label("seal")
    svc = await _node(open_service, softhsm)
    result = await svc.sealer.initialize("pkcs11", key_label=label)
    assert result.method == "pkcs11" and result.shares is None and not svc.sealer.sealed
    await svc.create_key(T, "k", "aes256-gcm")
    ciphertext = (await svc.encrypt(T, "k", b"under the hsm"))[0]
    method, params = (await sql(svc.store, "SELECT method, params FROM seal"))[0]
    assert method == "pkcs11" and json.loads(params)["key_label"] == label
    assert set(json.loads(params)) == {"key_label", "key_id", "wrapped_unseal_key"}  # never the PIN

    def inspect(session: Any) -> None:
        key = session.get_key(object_class=ObjectClass.SECRET_KEY, label=label)
        assert key[Attribute.SENSITIVE] and not key[Attribute.EXTRACTABLE] and key[Attribute.TOKEN]
        assert key[Attribute.VALUE_LEN] == 32
        with pytest.raises((px.AttributeSensitive, px.PKCS11Error)):
            key[Attribute.VALUE]

    await svc.sealer.hsm.run(inspect)
    # Another node: no material at all, the token opens it.
    node = await _node(open_service, softhsm)
    assert node.sealer.sealed
    assert await node.sealer.auto_unseal() is True
    assert await node.decrypt(T, "k", ciphertext) == b"under the hsm"
    # A pkcs11 store takes no material over the network, and says how it unseals.
    node.sealer.seal()
    with pytest.raises(UnsealFailed, match="unseals itself from its HSM"):
        await node.sealer.unseal()
    with pytest.raises(UnsealFailed, match="unseals itself from its HSM"):
        await node.sealer.unseal(passphrase="x" * 20)


async def test_init_uses_an_existing_key_and_refuses_without_hsm(open_service: OpenService, softhsm: SoftHsm) -> None:
    label = _label("existing")
    svc = await _node(open_service, softhsm)
    ref = await svc.sealer.hsm.generate_aes_key(label, os.urandom(8))
    await svc.sealer.initialize("pkcs11", key_label=label)
    params = (await sql(svc.store, "SELECT params FROM seal"))[0][0]
    assert ref.id.hex() in params  # the key that was there, not a new one
    bare = await open_service(unseal=False)  # no HSM configured
    with pytest.raises(InvalidInput, match="hsm_module"):
        await bare.sealer.auto_unseal()


async def test_init_refusals(open_service: OpenService, softhsm: SoftHsm) -> None:
    bare = await open_service(unseal=False)
    with pytest.raises(InvalidInput, match="hsm_module"):
        await bare.sealer.initialize("pkcs11")
    with pytest.raises(InvalidInput, match="pkcs11 method only") as refused:
        await bare.sealer.initialize("passphrase", passphrase="x" * 20, key_label="skms-seal")
    assert refused.value.field == "key_label"
    svc = await _node(open_service, softhsm)
    label = _label("ec")
    await svc.sealer.hsm.generate_keypair("ecdsa-p256", label, os.urandom(8))
    with pytest.raises(InvalidInput, match="not AES-256"):
        await svc.sealer.initialize("pkcs11", key_label=label)
    with pytest.raises(InvalidInput):
        await svc.sealer.initialize("pkcs11", key_label="bad\nlabel")
    assert not await svc.sealer.initialized() and not await bare.sealer.initialized()


async def test_rotate_root_with_the_token(open_service: OpenService, softhsm: SoftHsm) -> None:
    svc = await _node(open_service, softhsm)
    await svc.sealer.initialize("pkcs11", key_label=_label("rot"))
    texts = {}
    for i in range(5):
        await svc.create_key(T, f"k{i}", "aes256-gcm")
        texts[f"k{i}"] = (await svc.encrypt(T, f"k{i}", b"p%d" % i))[0]
    assert await svc.sealer.rotate_root() == 2  # no material: the token is the source
    assert await svc.sealer.rotate_root_held() == 3
    assert {rid for (rid,) in await sql(svc.store, "SELECT root_id FROM keys")} == {3}
    node = await _node(open_service, softhsm)
    assert await node.sealer.auto_unseal()
    for i, (name, text) in enumerate(texts.items()):
        assert await node.decrypt(T, name, text) == b"p%d" % i
        assert await svc.decrypt(T, name, text) == b"p%d" % i


async def test_operator_seal_holds_until_lifted(open_service: OpenService, softhsm: SoftHsm) -> None:
    svc = await _node(open_service, softhsm)
    await svc.sealer.initialize("pkcs11", key_label=_label("op"))
    await svc.sealer.seal_by_operator()
    node = await _node(open_service, softhsm)
    assert await node.sealer.auto_unseal() is False and node.sealer.sealed
    with pytest.raises(Sealed):
        node.sealer.root()
    assert await node.sealer.auto_unseal(lift_operator_seal=True) is True
    params = (await sql(svc.store, "SELECT params FROM seal"))[0][0]
    assert OPERATOR_SEALED not in params
    again = await _node(open_service, softhsm)
    assert await again.sealer.auto_unseal() is True


async def test_missing_wrapping_key_is_named(open_service: OpenService, softhsm: SoftHsm) -> None:
    label = _label("gone")
    svc = await _node(open_service, softhsm)
    await svc.sealer.initialize("pkcs11", key_label=label)
    assert await svc.sealer.hsm.destroy(label=label) >= 1
    node = await _node(open_service, softhsm)
    with pytest.raises(UnsealFailed, match=f"wrapping key '{label}'.*not on the HSM token"):
        await node.sealer.auto_unseal()


# -- real server processes -----------------------------------------------------------------------------


PIN_VAR = "SKMS_SEAL_TEST_PIN"  # the variable's name is a setting; the PIN only in the environment
#: The PIN of the servers' own tokens: distinctive, so that the logs can be searched for it.
PIN = "seal-pin-5f0c9e"


def _hsm_env(softhsm: SoftHsm, token: str, pin: str = PIN) -> dict[str, str]:
    return {
        "SOFTHSM2_CONF": str(softhsm.conf),
        "SKMS_HSM_MODULE": softhsm.module,
        "SKMS_HSM_TOKEN_LABEL": token,
        "SKMS_HSM_PIN_ENV": PIN_VAR,
        PIN_VAR: pin,
    }


def _failed_start(data_dir: Path, env: dict[str, str]) -> tuple[int, str]:
    """Runs ``skms serve`` on ``data_dir`` expecting it to stop: (exit code, its output)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("SKMS_")}
    full.update(env, SKMS_DATABASE_URL=f"sqlite:///{data_dir / 'skms.db'}", SKMS_LOG_LEVEL="WARNING")
    args = [skms_executable(), "serve", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{free_port()}"]
    done = subprocess.run(
        [*args, "--workers", "1"], env=full, capture_output=True, text=True, timeout=90, start_new_session=True
    )
    return done.returncode, done.stdout + done.stderr


def _decrypts(addr: str, token: str, name: str, ciphertext: str, plaintext: bytes) -> None:
    with Client(addr, token) as c:
        assert c.decrypt(name, ciphertext) == plaintext


def test_server_cold_start_auto_unseals(softhsm: SoftHsm, tmp_path: Path) -> None:
    token = _label("srv")[:32]
    softhsm.init_token(token, PIN)  # a token of its own: servers load the library afresh and see it
    env = _hsm_env(softhsm, token)
    data = tmp_path / "data"
    server = start_server(data, dev=False, workers=2, extra_env=env)
    try:
        with Client(server.addr, token="") as c:
            admin = c.init("pkcs11", key_label="srv-seal").admin_token
        with Client(server.addr, admin) as c:
            c.create_key("k", "aes256-gcm")
            ciphertext = c.encrypt("k", b"before the restart").ciphertext
            assert c.seal_status().method == "pkcs11"
    finally:
        server.stop()
    assert PIN not in server.log()
    # Cold start: nobody unseals it, every worker is unsealed.
    server = start_server(data, dev=False, workers=2, extra_env=env)
    try:
        assert httpx.get(f"{server.addr}/v1/sys/ready", timeout=10).status_code == 200
        for _ in range(10):  # new connections reach both workers
            _decrypts(server.addr, admin, "k", ciphertext, b"before the restart")
        with Client(server.addr, admin) as c:
            assert c.rotate_root().root_id == 2
            c.seal()
        # An operator's seal: nothing over the network undoes it, nor a restart.
        r = httpx.post(f"{server.addr}/v1/sys/unseal", json={}, timeout=10)
        assert r.status_code == 400 and "unseals itself from its HSM" in r.json()["detail"], r.text
        assert httpx.get(f"{server.addr}/v1/sys/seal-status", timeout=10).json()["sealed"] is True
    finally:
        server.stop()
    server = start_server(data, dev=False, workers=2, extra_env=env)
    try:
        assert httpx.get(f"{server.addr}/v1/sys/seal-status", timeout=10).json()["sealed"] is True
        assert "stays sealed until `skms operator lift-seal`" in server.log()
    finally:
        server.stop()
    # The operator lifts it with the token, on the server's host, then restarts.
    lift_env = {k: v for k, v in os.environ.items() if not k.startswith("SKMS_")}
    lift_env.update(env, SKMS_DATABASE_URL=f"sqlite:///{data / 'skms.db'}")
    done = subprocess.run(
        [skms_executable(), "operator", "lift-seal"], env=lift_env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "restart the server" in done.stderr
    server = start_server(data, dev=False, workers=2, extra_env=env)
    try:
        for _ in range(6):
            _decrypts(server.addr, admin, "k", ciphertext, b"before the restart")
    finally:
        server.stop()


@pytest.mark.parametrize("fault", ["wrong PIN", "missing token", "missing wrapping key", "no HSM settings"])
def test_server_start_fails_with_the_reason(softhsm: SoftHsm, tmp_path: Path, fault: str) -> None:
    token = _label("bad")[:32]
    softhsm.init_token(token, PIN)
    data = tmp_path / "data"
    env = _hsm_env(softhsm, token)
    server = start_server(data, dev=False, workers=1, extra_env=env)
    try:
        with Client(server.addr, token="") as c:
            c.init("pkcs11")
    finally:
        server.stop()
    if fault == "wrong PIN":
        env, expected = _hsm_env(softhsm, token, pin="0000"), "PIN"
    elif fault == "missing token":
        env, expected = _hsm_env(softhsm, "no-such-token"), "no token with label 'no-such-token'"
    elif fault == "missing wrapping key":
        other = _label("empty")[:32]
        softhsm.init_token(other, PIN)  # a token without the store's wrapping key
        env, expected = _hsm_env(softhsm, other), "wrapping key 'skms-seal'"
    else:
        env, expected = {}, "hsm_module is not set"
    started = time.monotonic()
    code, output = _failed_start(data, env)
    assert code != 0, output
    assert "auto-unseal from the HSM failed" in output and expected in output, output[-3000:]
    assert PIN not in output, "the PIN is in the output"
    assert time.monotonic() - started < 60
