"""The ``skms`` command against a real server process, run as a subprocess like a user would.

``SKMS_ADDR`` and ``SKMS_TOKEN`` select the server; most calls use ``--output json`` and parse it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from skms.wallet import HDKey, Mnemonic

if TYPE_CHECKING:
    from server_support import ServerProcess

pytest_plugins = ["server_support"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def skms(
    server: ServerProcess,
    *args: str,
    stdin: bytes | None = None,
    token: str | None = None,
    expect: int | None = 0,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Runs ``skms ARGS`` for ``server``; checks the exit code unless ``expect`` is None."""
    from server_support import skms_executable

    environment = server.env(token)
    environment.update(env or {})
    done = subprocess.run(
        [skms_executable(), *args], input=stdin, capture_output=True, env=environment, timeout=60, check=False
    )
    if expect is not None:
        assert done.returncode == expect, (args, done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    return done


def skms_json(server: ServerProcess, *args: str, **kwargs: Any) -> Any:
    return json.loads(skms(server, "--output", "json", *args, **kwargs).stdout)


def text(done: subprocess.CompletedProcess[bytes]) -> str:
    return done.stdout.decode()


def error_text(done: subprocess.CompletedProcess[bytes]) -> str:
    return done.stderr.decode()


# -- usage --------------------------------------------------------------------------------------


def test_help_and_usage_errors(skms_server: ServerProcess) -> None:
    help_text = text(skms(skms_server, "--help"))
    for command in ("init", "operator", "key", "wallet", "random", "hash", "serve"):
        assert command in help_text
    key_help = text(skms(skms_server, "key", "--help"))
    for command in ("create", "list", "show", "rotate", "state", "delete", "cancel-delete", "encrypt", "decrypt",
                    "sign", "verify", "datakey"):  # fmt: skip
        assert command in key_help
    assert "Missing argument" in error_text(skms(skms_server, "key", "sign", expect=2))
    assert "give DATA" in error_text(skms(skms_server, "key", "encrypt", "k", expect=2))
    assert "not both" in error_text(skms(skms_server, "key", "encrypt", "k", "x", "--file", __file__, expect=2))
    assert "base64" in error_text(skms(skms_server, "key", "sign", "k", "***", "--base64", expect=2))
    skms(skms_server, "--output", "yaml", "key", "list", expect=2)
    skms(skms_server, "key", "state", "k", "destroyed", expect=2)


# -- keys ---------------------------------------------------------------------------------------------


def test_key_lifecycle(skms_server: ServerProcess) -> None:
    prefix = unique("cli")
    created = skms_json(skms_server, "key", "create", f"{prefix}-sig", "-t", "ed25519", "-l", "team=pay",
                        "--rotation-period", "3600")  # fmt: skip
    assert created["name"] == f"{prefix}-sig" and created["type"] == "ed25519" and created["labels"] == {"team": "pay"}
    assert created["policy"]["rotation_period"] == 3600
    assert len(base64.b64decode(created["versions"][0]["public_key"])) == 32
    table = text(skms(skms_server, "key", "create", f"{prefix}-enc", "--type", "aes256-gcm", "--pre-active"))
    assert f"{prefix}-enc" in table and "pre-active" in table and "aes256-gcm" in table

    listed = skms_json(skms_server, "key", "list", "--prefix", prefix)
    assert [k["name"] for k in listed["keys"]] == [f"{prefix}-enc", f"{prefix}-sig"]
    assert [k["name"] for k in skms_json(skms_server, "key", "list", "--prefix", prefix, "-l", "team=pay")["keys"]] == [
        f"{prefix}-sig"
    ]
    assert len(skms_json(skms_server, "key", "list", "--prefix", prefix, "--limit", "1")["keys"]) == 1
    table = text(skms(skms_server, "key", "list", "--prefix", prefix))
    assert "2 key(s)" in table and f"{prefix}-sig" in table

    # --output on the command, and SKMS_OUTPUT, as well as skms --output
    shown = json.loads(skms(skms_server, "key", "show", f"{prefix}-sig", "-o", "json").stdout)
    assert shown == json.loads(skms(skms_server, "key", "show", f"{prefix}-sig", env={"SKMS_OUTPUT": "json"}).stdout)
    assert shown["id"] == created["id"]
    assert "public key" in text(skms(skms_server, "key", "show", f"{prefix}-sig"))

    assert skms_json(skms_server, "key", "state", f"{prefix}-enc", "active")["state"] == "active"
    assert skms_json(skms_server, "key", "rotate", f"{prefix}-sig")["latest_version"] == 2
    updated = skms_json(skms_server, "key", "update", f"{prefix}-sig", "-l", "team=ops", "--min-version", "2")
    assert updated["labels"] == {"team": "ops"} and updated["min_version"] == 2
    assert skms_json(skms_server, "key", "update", f"{prefix}-sig", "--clear-labels")["labels"] == {}

    scheduled = skms(skms_server, "key", "delete", f"{prefix}-enc", "--window", "3600")
    assert "will be destroyed at" in error_text(scheduled)
    assert skms_json(skms_server, "key", "cancel-delete", f"{prefix}-enc")["deletion_at"] is None
    destroyed = skms_json(skms_server, "key", "delete", f"{prefix}-enc", "--window", "0")
    assert destroyed["state"] == "destroyed"


def test_encrypt_decrypt_rotate_datakey(skms_server: ServerProcess, tmp_path: Path) -> None:
    name = unique("box")
    skms(skms_server, "key", "create", name, "-t", "xchacha20-poly1305")
    ciphertext = text(skms(skms_server, "key", "encrypt", name, "hello world")).strip()
    assert ciphertext.startswith("skms:v1:")
    assert skms(skms_server, "key", "decrypt", name, ciphertext).stdout == b"hello world"

    binary = bytes(range(256)) * 4
    path = tmp_path / "blob.bin"
    path.write_bytes(binary)
    from_file = skms_json(skms_server, "key", "encrypt", name, "--file", str(path), "--aad", "blob")
    assert from_file["key_version"] == 1
    assert skms(skms_server, "key", "decrypt", name, from_file["ciphertext"], "--aad", "blob").stdout == binary
    wrong = skms(skms_server, "key", "decrypt", name, from_file["ciphertext"], "--aad", "other", expect=1)
    assert "IntegrityError" in error_text(wrong)

    from_stdin = text(skms(skms_server, "key", "encrypt", name, "-", stdin=b"\x00\x01 piped")).strip()
    assert skms(skms_server, "key", "decrypt", name, "-", stdin=from_stdin.encode()).stdout == b"\x00\x01 piped"
    b64_in = text(skms(skms_server, "key", "encrypt", name, base64.b64encode(b"\xff\xfe").decode(), "--base64"))
    decrypted = text(skms(skms_server, "key", "decrypt", name, b64_in.strip(), "--base64")).strip()
    assert base64.b64decode(decrypted) == b"\xff\xfe"
    assert skms_json(skms_server, "key", "decrypt", name, b64_in.strip())["plaintext"] == "//4="

    skms(skms_server, "key", "rotate", name)
    assert skms(skms_server, "key", "decrypt", name, ciphertext).stdout == b"hello world"
    assert skms_json(skms_server, "key", "encrypt", name, "later")["key_version"] == 2

    datakey = skms_json(skms_server, "key", "datakey", name, "--size", "24")
    plaintext = base64.b64decode(datakey["plaintext"])
    assert len(plaintext) == 24 and datakey["key_version"] == 2
    again = text(skms(skms_server, "key", "decrypt", name, datakey["ciphertext"], "--base64")).strip()
    assert base64.b64decode(again) == plaintext
    assert skms_json(skms_server, "key", "datakey", name, "--no-plaintext")["plaintext"] is None
    assert "ciphertext" in text(skms(skms_server, "key", "datakey", name))


def test_sign_verify_hmac(skms_server: ServerProcess) -> None:
    name = unique("sig")
    skms(skms_server, "key", "create", name, "-t", "ecdsa-secp256k1")
    signature = text(skms(skms_server, "key", "sign", name, "release 1.0")).strip()
    assert signature.startswith("skms:v1:")
    assert "valid" in text(skms(skms_server, "key", "verify", name, signature, "release 1.0"))
    invalid = skms(skms_server, "key", "verify", name, signature, "release 2.0", expect=1)
    assert "invalid" in text(invalid)
    assert skms_json(skms_server, "key", "verify", name, signature, "release 2.0", expect=1) == {"valid": False}
    signed = skms_json(skms_server, "key", "sign", name, "-", stdin=b"from stdin")
    assert signed["key_version"] == 1
    assert skms_json(skms_server, "key", "verify", name, signed["signature"], "from stdin") == {"valid": True}
    digest = base64.b64encode(hashlib.sha256(b"tx").digest()).decode()
    pre = text(skms(skms_server, "key", "sign", name, digest, "--base64", "--prehashed")).strip()
    skms(skms_server, "key", "verify", name, pre, digest, "--base64", "--prehashed")

    mac_key = unique("mac")
    skms(skms_server, "key", "create", mac_key, "-t", "hmac-sha256")
    tag = text(skms(skms_server, "key", "hmac", mac_key, "payload")).strip()
    assert skms_json(skms_server, "key", "hmac", mac_key, "payload", "--verify", tag) == {"valid": True}
    skms(skms_server, "key", "hmac", mac_key, "tampered", "--verify", tag, expect=1)


def test_errors(skms_server: ServerProcess, unused_addr: str) -> None:
    missing = skms(skms_server, "key", "show", unique("nope"), expect=1)
    assert "NotFound" in error_text(missing) and "no key" in error_text(missing)
    assert missing.stdout == b""
    unknown = skms(skms_server, "key", "create", unique("k"), "-t", "rot13", expect=1)
    assert "UnknownAlgorithm" in error_text(unknown)
    bad_name = skms(skms_server, "key", "create", "bad name", "-t", "ed25519", expect=1)
    assert "InvalidInput" in error_text(bad_name)
    unauthenticated = skms(skms_server, "key", "list", token="skms_wrong", expect=1)
    assert "Unauthenticated" in error_text(unauthenticated)
    unreachable = skms(skms_server, "--addr", unused_addr, "operator", "status", expect=1)
    assert "TransportError" in error_text(unreachable) and "cannot reach" in error_text(unreachable)


# -- wallets ---------------------------------------------------------------------------------------------


def test_wallet_commands(skms_server: ServerProcess) -> None:
    name = unique("wal")
    created = skms_json(skms_server, "wallet", "create", name, "--words", "12", "-l", "desk=otc")
    mnemonic = created["mnemonic"]
    assert len(mnemonic.split()) == 12 and created["wallet"]["labels"] == {"desk": "otc"}
    root = HDKey.from_seed(Mnemonic.from_phrase(mnemonic).to_seed())
    assert skms_json(skms_server, "wallet", "show", name)["fingerprint"] == root.fingerprint.hex()
    assert "fingerprint" in text(skms(skms_server, "wallet", "show", name))
    table_create = text(skms(skms_server, "wallet", "create", unique("wal"), "--words", "15"))
    assert "shown once" in table_create

    assert text(skms(skms_server, "wallet", "xpub", name)).strip() == root.derive("m/84'/0'/0'").xpub()
    xpub = skms_json(skms_server, "wallet", "xpub", name, "--path", "m/44'/60'/0'")
    assert xpub["xpub"] == root.derive("m/44'/60'/0'").xpub()

    eth = skms_json(skms_server, "wallet", "addresses", name, "--chain", "ethereum", "--start", "3", "--count", "5")
    assert [a["index"] for a in eth["addresses"]] == [3, 4, 5, 6, 7]
    for a in eth["addresses"]:
        assert a["address"] == root.derive(a["path"]).address("ethereum")
    taproot = skms_json(
        skms_server, "wallet", "addresses", name, "--chain", "bitcoin", "--kind", "p2tr", "--count", "2"
    )
    for a in taproot["addresses"]:
        assert a["address"] == root.derive(a["path"]).address("bitcoin", "p2tr")
    table = text(skms(skms_server, "wallet", "addresses", name, "--chain", "bitcoin", "--count", "3"))
    first = root.derive("m/84'/0'/0'/0/0").address("bitcoin", "p2wpkh")
    assert first in table and "m/84'/0'/0'/0/2" in table

    # more than one chunk of 10,000: fetched in pieces, same addresses as one request would give
    many = skms_json(skms_server, "wallet", "addresses", name, "--chain", "ethereum", "--count", "10003")["addresses"]
    assert len(many) == 10003 and [a["index"] for a in many[9998:]] == list(range(9998, 10003))
    assert many[10002]["address"] == root.derive("m/44'/60'/0'/0/10002").address("ethereum")
    plain = text(skms(skms_server, "wallet", "addresses", name, "--chain", "ethereum", "--count", "1500"))
    assert len(plain.splitlines()) == 1500 and plain.splitlines()[3].split("\t")[2] == many[3]["address"]

    signed = skms_json(skms_server, "wallet", "sign", name, "login 7", "--scheme", "ethereum-personal",
                       "--chain", "ethereum", "--index", "4")  # fmt: skip
    assert signed["address"] == root.derive("m/44'/60'/0'/0/4").address("ethereum")
    assert Account.recover_message(encode_defunct(b"login 7"), signature=signed["signature"]) == signed["address"]
    by_digest = skms(skms_server, "wallet", "sign", name, "--scheme", "bitcoin-ecdsa", "--path", "m/84'/0'/0'/0/0",
                     "--digest", hashlib.sha256(b"tx").hexdigest())  # fmt: skip
    assert "signature" in text(by_digest)
    skms(skms_server, "wallet", "sign", name, "x", "--scheme", "solana", expect=2)

    imported = skms_json(skms_server, "wallet", "create", unique("imp"), "--import", stdin=mnemonic.encode() + b"\n")
    assert imported["wallet"]["fingerprint"] == root.fingerprint.hex() and "mnemonic" not in imported


# -- random, hash ------------------------------------------------------------------------------------------


def test_backup_for_a_registered_recipient(skms_server: ServerProcess, tmp_path: Path) -> None:
    """Issue 13: backups name a recipient an admin registered; keys that may not be backed up stay out."""
    private_path = tmp_path / "backup.key"
    pair = skms_json(skms_server, "backup", "keypair", "--private-key", str(private_path), "--shares", "1",
                     "--threshold", "1")  # fmt: skip
    name = unique("escrow")
    added = skms_json(skms_server, "backup", "recipient", "add", name, "--public-key", pair["public_key"])
    assert added["fingerprint"] == hashlib.sha256(bytes.fromhex(pair["public_key"])).hexdigest()
    assert name in {r["name"] for r in skms_json(skms_server, "backup", "recipient", "list")}
    kept, locked = unique("kept"), unique("locked")
    skms(skms_server, "key", "create", kept, "-t", "ed25519", "--allow-backup")
    skms(skms_server, "key", "create", locked, "-t", "ed25519")
    bundle = tmp_path / "bundle.skms"
    made = skms_json(skms_server, "backup", "create", "--recipient", name, "--out", str(bundle), "--name", kept)
    assert made["keys"] == [kept] and made["skipped"] == [] and bundle.stat().st_size == made["bytes"]
    refused = skms(skms_server, "backup", "create", "--recipient", name, "--out", str(tmp_path / "x"),
                   "--name", locked, expect=1)  # fmt: skip
    assert f"'{locked}' may not be backed up" in error_text(refused)
    whole = skms_json(skms_server, "backup", "create", "--recipient", name, "--out", str(tmp_path / "all"))
    assert locked in whole["skipped"] and kept in whole["keys"]
    restored = skms_json(skms_server, "backup", "restore", "--in", str(bundle), "--private-key", str(private_path),
                         "--overwrite")  # fmt: skip
    assert restored == {"keys": 1, "versions": 1, "replaced": 1}
    turned_on = skms(skms_server, "key", "update", locked, "--allow-backup", expect=1)
    assert "allow_backup cannot be turned on" in error_text(turned_on)
    assert "removed" in text(skms(skms_server, "backup", "recipient", "remove", name))
    gone = skms(skms_server, "backup", "create", "--recipient", name, "--out", str(tmp_path / "y"), expect=1)
    assert "no backup recipient" in error_text(gone)


def test_random_hash(skms_server: ServerProcess, tmp_path: Path) -> None:
    assert len(base64.b64decode(skms_json(skms_server, "random", "16")["random"])) == 16
    assert len(bytes.fromhex(text(skms(skms_server, "random", "8", "--format", "hex")).strip())) == 8
    assert len(skms(skms_server, "random", "--format", "raw").stdout) == 32
    assert len(base64.b64decode(text(skms(skms_server, "random")))) == 32
    skms(skms_server, "random", "5000", expect=2)
    assert text(skms(skms_server, "hash", "sha256", "abc")).strip() == hashlib.sha256(b"abc").hexdigest()
    path = tmp_path / "data"
    path.write_bytes(b"\x00" * 1000)
    digest = skms_json(skms_server, "hash", "sha3-256", "--file", str(path))
    assert digest["hex"] == hashlib.sha3_256(b"\x00" * 1000).hexdigest()
    assert base64.b64decode(digest["digest"]) == hashlib.sha3_256(b"\x00" * 1000).digest()
    assert "UnknownAlgorithm" in error_text(skms(skms_server, "hash", "md5", "abc", expect=1))


# -- init and operator ---------------------------------------------------------------------------------------


def test_init_and_operator(blank_server: ServerProcess) -> None:
    status = skms_json(blank_server, "operator", "status")
    assert status == {"initialized": False, "sealed": True, "method": None, "threshold": None}
    result = skms_json(blank_server, "init", "--shares", "3", "--threshold", "2")
    token, shares = result["admin_token"], result["shares"]
    assert token.startswith("skms_") and len(shares) == 3
    again = skms(blank_server, "init", expect=1)
    assert "Conflict" in error_text(again)

    blank_server.token = token
    assert "unsealed" in text(skms(blank_server, "operator", "status"))
    assert skms_json(blank_server, "operator", "seal")["sealed"] is True
    sealed = skms(blank_server, "key", "create", "k", "-t", "ed25519", expect=1)
    assert "Sealed" in error_text(sealed)
    too_few = skms(blank_server, "operator", "unseal", "--share", shares[0], expect=1)
    assert "UnsealFailed" in error_text(too_few)
    # shares on stdin, one a line (a terminal would prompt for them)
    unsealed = skms_json(blank_server, "operator", "unseal", stdin=f"{shares[2]}\n{shares[0]}\n".encode())
    assert unsealed == {"initialized": True, "sealed": False, "method": "shamir", "threshold": 2}
    assert skms_json(blank_server, "key", "create", "k", "-t", "ed25519")["state"] == "active"
    skms(blank_server, "operator", "seal")
    table = text(skms(blank_server, "operator", "unseal", "-s", shares[1], "-s", shares[2]))
    assert "unsealed" in table and "shamir" in table


@pytest.mark.parametrize("method", ["passphrase"])
def test_init_passphrase(blank_server: ServerProcess, method: str) -> None:
    table = text(skms(blank_server, "init", "--method", method, "--passphrase", "correct horse battery staple"))
    assert "admin API token" in table
    token = table.split("skms_", 1)[1].split()[0]
    blank_server.token = "skms_" + token
    skms(blank_server, "operator", "seal")
    skms(blank_server, "operator", "unseal", stdin=b"correct horse battery staple\n")
    assert skms_json(blank_server, "operator", "status")["sealed"] is False
