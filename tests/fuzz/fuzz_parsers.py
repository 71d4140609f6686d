"""Coverage-guided fuzzing (atheris) of the parsers that take outside input. Run by hand, see README.md.

    .venv/bin/python tests/fuzz/fuzz_parsers.py --target=envelope -max_total_time=60

Each target feeds the fuzzer's bytes to one parser and lets only the documented errors through;
anything else (IndexError, ValueError that is not an SKMSError, RecursionError, a panic) stops the
run with the input that caused it, saved as ``crash-<hash>`` in the working directory.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: server_process for the route list

import contextlib

import msgspec

from skms.audit.log import _decode_cursor as decode_audit_cursor
from skms.authz.policy import AccessRequest, PolicyDocument, evaluate
from skms.errors import InvalidInput, SKMSError
from skms.keys import backup
from skms.keys.model import KeyPolicy, check_labels, check_name, decode_versioned
from skms.keys.service import _decode_cursor as decode_key_cursor
from skms.wallet import HDKey, Mnemonic, bitcoin, ethereum, solana

ROOT = HDKey.from_seed(bytes(range(64)))
ED_ROOT = HDKey.from_seed(bytes(range(64)), "ed25519")


def _text(data: bytes) -> str:
    # UTF-8 (bad bytes replaced), so that the seed files below are plain text the mutator starts from.
    return data.decode("utf-8", "replace")


def envelope(data: bytes) -> None:
    with contextlib.suppress(InvalidInput):
        decode_versioned(_text(data))


def cursors(data: bytes) -> None:
    text = _text(data)
    for decode in (decode_key_cursor, decode_audit_cursor):
        with contextlib.suppress(InvalidInput):
            decode(text)


def path(data: bytes) -> None:
    text = _text(data)
    for key in (ROOT, ED_ROOT, ROOT.neuter()):
        with contextlib.suppress(SKMSError):
            key.derive(text)


def address(data: bytes) -> None:
    text = _text(data)
    parsers: list[Callable[[str], object]] = [
        bitcoin.parse_address, ethereum.validate_address, ethereum.to_checksum_address, solana.parse_address,
        lambda s: bitcoin.recover_message_public_key("m", s),
    ]  # fmt: skip
    for parse in parsers:
        with contextlib.suppress(SKMSError):
            parse(text)


def mnemonic(data: bytes) -> None:
    with contextlib.suppress(SKMSError):
        Mnemonic.from_phrase(_text(data))


def policy(data: bytes) -> None:
    try:
        document = msgspec.json.decode(data, type=PolicyDocument).validate()
    except (msgspec.DecodeError, InvalidInput):
        return
    evaluate([document], AccessRequest("p", (), "default", "key:Sign", "key:a", "10.0.0.1"))


def key_policy(data: bytes) -> None:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return
    for check in (KeyPolicy.from_dict, check_labels, check_name):
        with contextlib.suppress(InvalidInput):
            check(value)


def bodies(data: bytes) -> None:
    from server_process import app_routes

    global _STRUCTS
    if not _STRUCTS:
        _STRUCTS = [r.body for r in app_routes() if isinstance(r.body, type) and issubclass(r.body, msgspec.Struct)]
    for struct in _STRUCTS:
        with contextlib.suppress(msgspec.DecodeError):
            msgspec.json.decode(data, type=struct)


_STRUCTS: list[type[msgspec.Struct]] = []


def bundle_payload(data: bytes) -> None:
    with contextlib.suppress(SKMSError):
        backup._parse(data)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "envelope": envelope,
    "cursors": cursors,
    "path": path,
    "address": address,
    "mnemonic": mnemonic,
    "policy": policy,
    "key-policy": key_policy,
    "bodies": bodies,
    "bundle-payload": bundle_payload,
}


#: Valid inputs to start from: without them the fuzzer rarely gets past a parser's first check.
SEEDS: dict[str, list[bytes]] = {
    "envelope": [b"skms:v1:AAAA", b"skms:v12:" + b"QUJD" * 8, b"skms:v1:"],
    "cursors": [b"c1.a2V5LWE", b'WzE3MDAwMDAwMDAuMCwiaG9zdC0xLTAwMTFhYWJiIiw1XQ'],
    "path": [b"m/44'/0'/0'/0/1", b"m/84h/0h/0h", b"M/0H/1", b"m"],
    "address": [b"bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", b"1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA",
                b"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", b"HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk"],
    "mnemonic": [b"abandon " * 11 + b"about", b"legal winner thank year wave sausage worth useful legal winner thank "
                 b"yellow"],
    "policy": [b'{"name":"p","statements":[{"effect":"allow","actions":["key:*"],"resources":["key:a*"],'
               b'"conditions":{"source_cidrs":["10.0.0.0/8"],"hours_utc":[8,18],"key_labels":{"env":"x"}}}]}'],
    "key-policy": [b'{"rotation_period":86400,"exportable":false,"deletion_window":0}', b'{"env":"prod"}', b'"key-1"'],
    "bodies": [b'{"name":"k","type":"aes256-gcm","labels":{"a":"b"},"policy":{"exportable":false}}',
               b'{"batch":[{"plaintext":"AAAA","associated_data":""}]}', b'{"ciphertext":"skms:v1:AAAA"}'],
    "bundle-payload": [b'{"format":1,"keys":[]}'],
}  # fmt: skip


def main() -> None:
    chosen = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--target=")]
    argv = [a for a in sys.argv if not a.startswith("--target=")]
    if len(chosen) != 1 or chosen[0] not in TARGETS:
        sys.exit(f"usage: {argv[0]} --target=<{'|'.join(TARGETS)}> [libFuzzer options] [corpus directory]")
    corpus = Path(argv[-1]) if len(argv) > 1 and not argv[-1].startswith("-") else None
    if corpus is not None and corpus.is_dir() and not any(corpus.iterdir()):
        for i, seed in enumerate(SEEDS[chosen[0]]):
            (corpus / f"seed-{i}").write_bytes(seed)
    atheris.instrument_all()  # coverage feedback for every loaded Python function (skms included)
    atheris.Setup(argv, TARGETS[chosen[0]])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
