"""After a seal, no server process holds a copy of any key (issue 13, defect 5).

A real ``skms serve`` with two workers gets keys of every family, uses each one on
both workers (so that every cache holds them), and is sealed through one worker
(the other follows through the unseal relay). Then the memory of every process of
the server is read through ``/proc/<pid>/mem`` (as ``gcore`` would, without gdb) and
searched for every secret of the store: each key version's material, each data key,
the root key and the unseal key file, as raw bytes, reversed (OpenSSL keeps big
numbers little-endian), hex and base64. None may be found.

The secrets are taken from the store itself with the dev key file, the way an
attacker with the disk and the key file would, so the test needs no export route.
Before the seal the same search must find the cached keys: the search itself works.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from server_process import WORKERS, ServerProcess, b64, server_fixture

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/mem")

server = server_fixture()

#: (type, operation) for every family a key can be: symmetric, classical, post-quantum and hybrid.
KEYS = [
    ("aes256-gcm", "encrypt"),
    ("chacha20-poly1305", "encrypt"),
    ("xchacha20-poly1305", "encrypt"),
    ("hmac-sha256", "hmac"),
    ("hmac-sha512", "hmac"),
    ("blake3-keyed", "hmac"),
    ("ed25519", "sign"),
    ("ecdsa-secp256k1", "sign"),
    ("schnorr-secp256k1", "sign"),
    ("ecdsa-p256", "sign"),
    ("ecdsa-p384", "sign"),
    ("rsa-3072", "sign"),
    ("ml-dsa-65", "sign"),
    ("falcon-512", "sign"),
    ("ed25519+ml-dsa-65", "sign"),
    ("ml-kem-768", "kem"),
    ("x25519+ml-kem-768", "kem"),
]
#: Requests per key, each on a new connection: enough for both workers to load every key.
USES = 8


@dataclass(frozen=True)
class Secret:
    label: str
    value: bytes


def use_key(server: ServerProcess, name: str, operation: str) -> None:
    data = b64(os.urandom(48))
    if operation == "encrypt":
        sealed = server.fresh_request("POST", f"/v1/keys/{name}/encrypt", json={"plaintext": data}).json()
        r = server.fresh_request("POST", f"/v1/keys/{name}/decrypt", json={"ciphertext": sealed["ciphertext"]})
        r2 = server.fresh_request("POST", f"/v1/keys/{name}/datakey", json={"size": 32, "include_plaintext": False})
        assert r2.status_code == 200, r2.text
    elif operation == "hmac":
        r = server.fresh_request("POST", f"/v1/keys/{name}/hmac", json={"input": data})
    elif operation == "sign":
        r = server.fresh_request("POST", f"/v1/keys/{name}/sign", json={"input": data})
    else:
        enc = server.fresh_request("POST", f"/v1/keys/{name}/encapsulate", json={})
        assert enc.status_code == 200, enc.text
        r = server.fresh_request("POST", f"/v1/keys/{name}/decapsulate", json={"ciphertext": enc.json()["ciphertext"]})
    assert r.status_code == 200, f"{name} {operation}: {r.status_code} {r.text[:200]}"


def store_url(server: ServerProcess) -> str:
    return server.env.get("SKMS_DATABASE_URL") or f"sqlite:///{server.data_dir / 'skms.db'}"


def read_secrets(server: ServerProcess) -> list[Secret]:
    """Every secret of the store, opened with the dev key file (root, data keys, each version's material)."""
    from skms._native import SecretBytes
    from skms.keys import envelope
    from skms.storage import open_store

    unseal_key = server.keyfile.read_bytes()

    async def run() -> list[Secret]:
        store = open_store(store_url(server))
        await store.open()
        try:
            record = await store.get_seal()
            assert record is not None
            roots = {record.root_id: envelope.unwrap_root(SecretBytes(unseal_key), record.root_id, record.wrapped_root)}
            for previous in record.params.get("previous", []):
                rid = int(previous["root_id"])
                roots[rid] = envelope.unwrap_root(SecretBytes(unseal_key), rid, bytes.fromhex(previous["wrapped_root"]))
            found = [Secret("unseal key", unseal_key)]
            found += [Secret(f"root key {rid}", root.expose_secret()) for rid, root in roots.items()]
            after = None
            while batch := await store.all_keys(after, 500):
                for key in batch:
                    dek = envelope.unwrap_dek(roots[key.root_id], key.root_id, key.tenant, key.id, key.wrapped_dek)
                    found.append(Secret(f"data key of {key.tenant}/{key.name}", dek.expose_secret()))
                    for v in await store.get_versions(key.id):
                        if v.material is None:
                            continue
                        material = envelope.decrypt_material(
                            dek, key.tenant, key.id, v.version, key.type, key.purpose, v.material
                        ).expose_secret()
                        found += material_secrets(
                            f"{key.tenant}/{key.name} ({key.type}) v{v.version}", key.type, material
                        )
                after = batch[-1].id
            return found
        finally:
            await store.close()

    return asyncio.run(run())


def material_secrets(label: str, type: str, material: bytes) -> list[Secret]:
    if type.startswith("rsa-"):
        # PKCS#8 holds the public modulus too: search the private parts only.
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.hazmat.primitives.serialization import load_der_private_key

        key = load_der_private_key(material, None)
        assert isinstance(key, rsa.RSAPrivateKey)
        numbers = key.private_numbers()
        parts = {"p": numbers.p, "q": numbers.q, "d": numbers.d}
        return [Secret(f"{label} {n}", v.to_bytes((v.bit_length() + 7) // 8, "big")) for n, v in parts.items()]
    return [Secret(label, material)]


def needles(secrets: list[Secret]) -> dict[bytes, str]:
    """Search strings: raw, reversed, hex and base64 forms; 32-byte windows of longer secrets."""
    out: dict[bytes, str] = {}
    for s in secrets:
        v = s.value
        assert len(v) >= 16, s.label
        out[v] = f"{s.label} (raw)"
        out[v[::-1]] = f"{s.label} (reversed)"
        if len(v) <= 64:
            out[v.hex().encode()] = f"{s.label} (hex)"
            out[v.hex().upper().encode()] = f"{s.label} (HEX)"
            out[base64.b64encode(v).rstrip(b"=")] = f"{s.label} (base64)"
            out[base64.urlsafe_b64encode(v).rstrip(b"=")] = f"{s.label} (base64url)"
        else:  # a part of a long secret is as bad as all of it
            for i in range(0, len(v) - 31, 32):
                out[v[i : i + 32]] = f"{s.label} (bytes {i}..{i + 32})"
                out[v[i : i + 32][::-1]] = f"{s.label} (bytes {i}..{i + 32} reversed)"
    return out


def process_tree(root: int) -> list[int]:
    """``root`` and every descendant (granian's workers are its children)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def search_memory(pid: int, wanted: dict[bytes, str], first_only: bool = False) -> Counter[str]:
    """How often each needle occurs in the writable memory of ``pid`` (heap, stacks, anonymous maps)."""
    hits: Counter[str] = Counter()
    overlap = max(len(n) for n in wanted) - 1
    chunk = 64 << 20
    with open(f"/proc/{pid}/maps") as f:
        regions = [line.split() for line in f]
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for fields in regions:
            perms = fields[1]
            name = fields[5] if len(fields) > 5 else ""
            if "r" not in perms or "w" not in perms or name in ("[vvar]", "[vsyscall]", "[vvar_vclock]"):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            at = start
            while at < end:
                size = min(chunk + overlap, end - at)
                try:
                    mem.seek(at)
                    data = mem.read(size)
                except OSError:
                    break
                for needle, label in wanted.items():
                    n = data.count(needle)
                    if n:
                        hits[label] += n
                        if first_only:
                            return hits
                at += chunk
    return hits


def summary(hits: Counter[str]) -> tuple[int, dict[str, int]]:
    """(copies in all, copies per secret): the forms of one secret counted together."""
    per: Counter[str] = Counter()
    for label, n in hits.items():
        per[label.rsplit(" (", 1)[0]] += n
    return sum(per.values()), dict(per.most_common())


def worker_pids(server: ServerProcess) -> list[int]:
    assert server.proc is not None
    pids = process_tree(server.proc.pid)
    assert len(pids) >= 1 + WORKERS, f"expected the main process and {WORKERS} workers, found {pids}"
    return pids


def wait_all_sealed(server: ServerProcess, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        states = server.worker_states()
        if len(states) == WORKERS and set(states.values()) == {1.0}:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"workers not all sealed: {states}")
        time.sleep(0.1)


def test_no_key_material_in_memory_after_seal(server: ServerProcess) -> None:
    if not os.access(f"/proc/{os.getpid()}/mem", os.R_OK):
        pytest.skip("no access to /proc/<pid>/mem")
    with server.client() as api:
        for kind, _ in KEYS:
            r = api.post("/v1/keys", json={"name": f"mem-{kind.replace('+', '-')}", "type": kind})
            assert r.status_code in (200, 201), f"{kind}: {r.status_code} {r.text[:200]}"
        r = api.post("/v1/wallets", json={"name": "mem-wallet", "words": 24})
        assert r.status_code in (200, 201), r.text[:200]
    for _ in range(USES):
        for kind, operation in KEYS:
            use_key(server, f"mem-{kind.replace('+', '-')}", operation)
        r = server.fresh_request("POST", "/v1/wallets/mem-wallet/addresses", json={"chain": "ethereum", "count": 2})
        assert r.status_code == 200, r.text[:200]
    secrets = read_secrets(server)
    labels = {s.label for s in secrets}
    assert any(label.startswith("default/mem-aes256-gcm") for label in labels), labels
    assert any(label.startswith("default/mem-wallet") for label in labels), labels
    assert any(label.startswith("__system/") for label in labels), "the system keys (audit, OAuth) are searched too"
    wanted = needles(secrets)

    pids = worker_pids(server)
    # The search works: before the seal the workers hold (in native buffers) the keys they use.
    assert any(search_memory(pid, wanted, first_only=True) for pid in pids[1:]), "no key found before the seal"

    r = server.fresh_request("POST", "/v1/sys/seal")
    assert r.status_code == 200, r.text
    wait_all_sealed(server)
    time.sleep(1.0)
    found = {pid: search_memory(pid, wanted) for pid in worker_pids(server)}
    report = {pid: summary(hits) for pid, hits in found.items() if hits}
    assert not report, f"secrets still in memory after the seal (pid: copies, secret: copies): {report}"
