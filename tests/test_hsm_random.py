"""The HSM random source (issue 14 item 7): ``hsm_random`` mixes C_GenerateRandom into new keys.

On a real SoftHSM2 token (``tests/hsm_support.py``). The token's generator is counted by a
wrapper around the real :class:`skms.hsm.Hsm` (its two random helpers), nothing is mocked:
every seed-based key type, data keys, wallet entropy, root keys and data keys of the envelope
draw from the token; RSA and Falcon do not (their libraries generate); every key works and is
new; no draw blocks the event loop; key material is not the token's bytes (OS XOR token). A
server process started with ``hsm_random`` makes keys over HTTP; one whose token cannot answer
stops at start, and the setting is refused without the HSM settings.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519

from hsm_support import PIN, PIN_ENV, SoftHsm
from server_process import BACKENDS, ServerProcess, b64, running_server, unb64
from server_support import free_port, skms_executable
from skms.api.settings import load_settings
from skms.crypto import ALGORITHMS, registry
from skms.crypto.random import OsRandom, get_random_source, set_random_source
from skms.errors import InvalidInput
from skms.keys import KeyService
from skms.wallet import Mnemonic
from test_keys_hsm import verify_independently
from test_seal_memory import test_no_key_material_in_memory_after_seal as no_key_in_memory_after_seal

pytestmark = pytest.mark.anyio

T = "acme"
#: Generated inside their libraries (OpenSSL's RSA, the fn-dsa crate's Falcon): OS randomness only.
OWN_GENERATOR = ("rsa-", "falcon-")
SEEDED = [a for a in ALGORITHMS if not a.startswith(OWN_GENERATOR) and registry.get(a).status != "deprecated"]
LIBRARY_MADE = ["rsa-3072", "falcon-512"]
CLASSICAL_SIGNERS = ("ecdsa-p256", "ecdsa-p384", "ecdsa-secp256k1", "ed25519")


class TokenRandom:
    """The real Hsm's random helpers wrapped to count (and keep) what the token returned."""

    def __init__(self, hsm: Any) -> None:
        self.blocking = 0  # hsm.random_bytes: a blocking draw (none in the server's paths)
        self.awaited = 0  # hsm.generate_random: drawn on the HSM's workers, awaited
        self.outputs: list[bytes] = []
        real_sync, real_async = hsm.random_bytes, hsm.generate_random

        def random_bytes(n: int) -> bytes:
            self.blocking += 1
            out: bytes = real_sync(n)
            self.outputs.append(bytes(bytearray(out)))  # a copy: the source's own one is wiped
            return out

        async def generate_random(n: int) -> bytes:
            self.awaited += 1
            out: bytes = await real_async(n)
            self.outputs.append(bytes(bytearray(out)))
            return out

        hsm.random_bytes = random_bytes
        hsm.generate_random = generate_random

    @property
    def calls(self) -> int:
        return self.blocking + self.awaited


@pytest.fixture
def token(hsm: Any) -> Iterator[TokenRandom]:
    from skms.hsm import HsmRandom

    counted = TokenRandom(hsm)
    source = HsmRandom(hsm)
    set_random_source(source)
    try:
        yield counted
    finally:
        set_random_source(OsRandom())
    assert source.loop_blocked == 0, "a generation asked the token on the event loop"


async def _material(svc: KeyService, name: str, version: int = 1) -> bytes:
    record = await svc.store.get_key(T, name)
    [row] = [v for v in await svc.store.get_versions(record.id) if v.version == version]
    return svc.software.material(record, row).expose_secret()


async def _works(svc: KeyService, type: str, name: str) -> None:
    """The key does its job through the service (and independently where a library can check)."""
    purpose = (await svc.store.get_key(T, name)).purpose
    if purpose == "encrypt":
        text, _ = await svc.encrypt(T, name, b"plaintext", b"aad")
        assert await svc.decrypt(T, name, text, b"aad") == b"plaintext"
    elif purpose == "mac":
        tag, _ = await svc.mac(T, name, b"data")
        assert await svc.verify_mac(T, name, b"data", tag) and not await svc.verify_mac(T, name, b"other", tag)
    elif purpose == "sign":
        signature, _ = await svc.sign(T, name, b"message")
        assert await svc.verify(T, name, b"message", signature)
        assert not await svc.verify(T, name, b"other", signature)
        if type in CLASSICAL_SIGNERS:
            from cryptography.hazmat.primitives import serialization

            public = serialization.load_der_public_key((await svc.public_key(T, name)).export("spki-der"))
            verify_independently(type, public, b"message", unb64(signature.split(":", 2)[2]))
    elif purpose == "kem":
        shared, ciphertext, _ = await svc.encapsulate(T, name)
        assert await svc.decapsulate(T, name, ciphertext) == shared
    else:
        assert type == "x25519"
        record = await svc.store.get_key(T, name)
        row = max(await svc.store.get_versions(record.id), key=lambda v: v.version)
        key = svc.software.load(record, row)
        peer = x25519.X25519PrivateKey.generate()
        theirs = peer.exchange(x25519.X25519PublicKey.from_public_bytes(key.public_key().export("raw")))
        assert key.exchange(peer.public_key().public_bytes_raw()).expose_secret() == theirs


@pytest.mark.parametrize("type", SEEDED)
async def test_every_seed_based_type_draws_from_the_token(svc: KeyService, token: TokenRandom, type: str) -> None:
    await svc.create_key(T, "a", type)
    # The key's seed (drawn ahead of the generation) and its data key, each awaited.
    assert token.awaited == 2 and token.blocking == 0
    await svc.create_key(T, "b", type)
    assert token.awaited == 4
    first, second = await _material(svc, "a"), await _material(svc, "b")
    assert first != second
    # OS XOR token: neither key is what the token returned (nor a slice of it).
    assert not any(first[:16] in out or second[:16] in out for out in token.outputs)
    await _works(svc, type, "a")
    await _works(svc, type, "b")
    await svc.rotate_key(T, "a")  # a new version draws too
    assert token.awaited == 5 and await _material(svc, "a", 2) != first
    assert token.blocking == 0
    await _works(svc, type, "a")


@pytest.mark.parametrize("type", LIBRARY_MADE)
async def test_rsa_and_falcon_keep_their_library_generators(svc: KeyService, token: TokenRandom, type: str) -> None:
    await svc.create_key(T, "lib", type)
    # The key itself: OpenSSL's / the fn-dsa crate's generator; its data key: the token's.
    assert token.awaited == 1 and token.blocking == 0
    await _works(svc, type, "lib")


async def test_wallet_entropy_data_keys_and_roots_draw_from_the_token(svc: KeyService, token: TokenRandom) -> None:
    _, first = await svc.create_wallet(T, "w1", words=12)
    assert token.awaited == 2  # the BIP39 entropy, and the wallet's data key
    _, second = await svc.create_wallet(T, "w2", words=24)
    assert token.awaited == 4 and first != second
    Mnemonic.validate(first)
    Mnemonic.validate(second)
    assert len(first.split()) == 12 and len(second.split()) == 24
    with pytest.raises(InvalidInput, match="12, 15, 18, 21 or 24 words"):
        await svc.create_wallet(T, "w3", words=13)

    await svc.create_key(T, "k", "aes256-gcm")
    before = token.awaited
    plain, wrapped, _ = await svc.datakey(T, "k", 32)
    assert token.awaited == before + 1
    assert await svc.decrypt(T, "k", wrapped) == plain.expose_secret()
    other, _, _ = await svc.datakey(T, "k", 64)
    assert len(other) == 64 and plain.expose_secret() not in token.outputs

    text, _ = await svc.encrypt(T, "k", b"before the rotation")
    before = token.awaited
    await svc.sealer.rotate_root_held()  # the new root key: from the token
    assert token.awaited == before + 1
    assert await svc.decrypt(T, "k", text) == b"before the rotation"
    assert token.blocking == 0


async def test_without_the_setting_the_token_is_not_asked(svc: KeyService, hsm: Any) -> None:
    counted = TokenRandom(hsm)
    assert isinstance(get_random_source(), OsRandom)
    for type in ("aes256-gcm", "ed25519", "ecdsa-p256"):
        await svc.create_key(T, type, type)
    await svc.create_wallet(T, "w")
    await svc.datakey(T, "aes256-gcm")
    assert counted.calls == 0


# -- settings ----------------------------------------------------------------------------------------


def test_hsm_random_needs_the_hsm_settings(softhsm: SoftHsm) -> None:
    with pytest.raises(InvalidInput, match=r"hsm_random mixes the HSM's generator .* set hsm_module"):
        load_settings({"SKMS_HSM_RANDOM": "true"})
    assert load_settings({"SKMS_HSM_RANDOM": "false"}).hsm_random is False
    settings = load_settings(
        {
            "SKMS_HSM_RANDOM": "1",
            "SKMS_HSM_MODULE": softhsm.module,
            "SKMS_HSM_TOKEN_LABEL": softhsm.label,
            "SKMS_HSM_PIN_ENV": PIN_ENV,
        }
    )
    assert settings.hsm_random is True and settings.hsm_config() is not None
    with pytest.raises(InvalidInput):
        load_settings({"SKMS_HSM_RANDOM": "maybe", "SKMS_HSM_MODULE": softhsm.module})


# -- a real server -----------------------------------------------------------------------------------


PIN_VAR = "SKMS_RANDOM_TEST_PIN"


def _env(softhsm: SoftHsm, label: str, pin: str = PIN) -> dict[str, str]:
    return {
        "SOFTHSM2_CONF": str(softhsm.conf),
        "SKMS_HSM_MODULE": softhsm.module,
        "SKMS_HSM_TOKEN_LABEL": label,
        "SKMS_HSM_PIN_ENV": PIN_VAR,
        PIN_VAR: pin,
        "SKMS_HSM_RANDOM": "true",
    }


@pytest.fixture(scope="module", params=BACKENDS, name="server")
def random_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, softhsm: SoftHsm
) -> Iterator[ServerProcess]:
    label = f"rnd-{os.urandom(4).hex()}"
    softhsm.init_token(label, PIN)  # a token of its own: the server loads the library afresh and sees it
    data_dir = tmp_path_factory.mktemp(f"skms-hsm-random-{request.param}") / "data"
    with running_server(request.param, data_dir, _env(softhsm, label)) as server:
        yield server
    log = server.stderr_path.read_text(errors="replace")
    assert "hsm: logged in to the token" in log  # nothing but hsm_random opens it on this server
    assert "asked the token on the event loop" not in log


def ok(r: Any, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return r.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "type", ["aes256-gcm", "hmac-sha256", "ed25519", "ecdsa-p256", "ml-dsa-65", "x25519+ml-kem-768"]
)
def test_server_with_hsm_random_makes_working_keys(server: ServerProcess, type: str) -> None:
    api = server.client()
    publics = []
    for name in (f"{type.replace('+', '.')}-1", f"{type.replace('+', '.')}-2"):
        key = ok(api.post("/v1/keys", json={"name": name, "type": type}), 201)
        publics.append(key["versions"][0]["public_key"])
        if type == "aes256-gcm":
            enc = ok(api.post(f"/v1/keys/{name}/encrypt", json={"plaintext": b64(b"over http")}))
            dec = ok(api.post(f"/v1/keys/{name}/decrypt", json={"ciphertext": enc["ciphertext"]}))
            assert unb64(dec["plaintext"]) == b"over http"
        elif type == "hmac-sha256":
            tag = ok(api.post(f"/v1/keys/{name}/hmac", json={"input": b64(b"data")}))["hmac"]
            assert ok(api.post(f"/v1/keys/{name}/hmac", json={"input": b64(b"data"), "hmac": tag}))["valid"]
        elif type == "x25519+ml-kem-768":
            enc = ok(api.post(f"/v1/keys/{name}/encapsulate", json={}))
            dec = ok(api.post(f"/v1/keys/{name}/decapsulate", json={"ciphertext": enc["ciphertext"]}))
            assert dec["shared_secret"] == enc["shared_secret"]
        else:
            sig = ok(api.post(f"/v1/keys/{name}/sign", json={"input": b64(b"m")}))["signature"]
            assert ok(api.post(f"/v1/keys/{name}/verify", json={"input": b64(b"m"), "signature": sig}))["valid"]
    if publics[0] is not None:
        assert publics[0] != publics[1]


def test_server_with_hsm_random_wallets_datakeys_and_random(server: ServerProcess) -> None:
    api = server.client()
    phrases = [ok(api.post("/v1/wallets", json={"name": f"w{i}", "words": 12}), 201)["mnemonic"] for i in (1, 2)]
    assert phrases[0] != phrases[1]
    for phrase in phrases:
        Mnemonic.validate(phrase)
    ok(api.post("/v1/keys", json={"name": "dk", "type": "aes256-gcm"}), 201)
    made = ok(api.post("/v1/keys/dk/datakey", json={"size": 32}))
    back = ok(api.post("/v1/keys/dk/decrypt", json={"ciphertext": made["ciphertext"]}))
    assert back["plaintext"] == made["plaintext"]
    randoms = {ok(api.post("/v1/random", json={"bytes": 32}))["random"] for _ in range(4)}
    assert len(randoms) == 4


def test_server_whose_token_cannot_answer_does_not_start(softhsm: SoftHsm, tmp_path: Path) -> None:
    label = f"rndbad-{os.urandom(4).hex()}"
    softhsm.init_token(label, PIN)
    import subprocess

    data_dir = tmp_path / "data"
    full = {k: v for k, v in os.environ.items() if not k.startswith("SKMS_")}
    full.update(_env(softhsm, label, pin="0000"), SKMS_LOG_LEVEL="WARNING")
    full["SKMS_DATABASE_URL"] = f"sqlite:///{data_dir / 'skms.db'}"
    args = [skms_executable(), "serve", "--dev", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{free_port()}"]
    started = time.monotonic()
    done = subprocess.run(
        [*args, "--workers", "1"], env=full, capture_output=True, text=True, timeout=90, start_new_session=True
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "hsm_random is on and the token's generator does not answer" in output and "PIN" in output
    assert "0000" not in output.replace("127.0.0.1", "")
    assert time.monotonic() - started < 60


def test_no_key_in_memory_after_seal_with_hsm_random(server: ServerProcess) -> None:
    """Mixing leaves no copy of a key (tests/test_seal_memory.py on this server). Last: it seals."""
    no_key_in_memory_after_seal(server)
