"""Bytecodes a sign request executes with the security layer on and off: a count, not a timing.

On a shared machine timings drift by more than the changes worth measuring; the number of
bytecodes each function executes does not. The app runs in-process on a real SQLite store
(32 concurrent signers, called through ASGI without HTTP), once with authentication,
authorization and audit, once with ``insecure_no_security``, each in its own process.

Usage::

    python benches/security_cost.py            # totals and the 25 functions that differ most
    python benches/security_cost.py --top 60

It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

CONCURRENCY = 32
BODY = b'{"input":"aGVsbG8gd29ybGQ="}'


def _where(frame: FrameType) -> str:
    code = frame.f_code
    path = code.co_filename.split("site-packages/")[-1].split("python/skms/")[-1]
    return f"{path}:{code.co_name}"


async def _count(requests: int, secured: bool) -> tuple[int, dict[str, int]]:
    directory = Path(tempfile.mkdtemp(prefix="skms-security-cost-"))
    from skms.keys.seal import write_keyfile

    write_keyfile(str(directory / "unseal.key"))
    os.environ.update(
        SKMS_DATABASE_URL=f"sqlite:///{directory / 'skms.db'}", SKMS_UNSEAL_KEYFILE=str(directory / "unseal.key"),
        SKMS_DATA_DIR=str(directory), SKMS_LOG_LEVEL="WARNING", SKMS_HOST="127.0.0.1",
    )  # fmt: skip
    if not secured:
        os.environ["SKMS_INSECURE_NO_SECURITY"] = "1"
    from skms.api.app import create_app_from_env
    from skms.api.settings import load_settings
    from skms.cli.serve import _prepare_dev

    token = await _prepare_dev(load_settings(), str(directory / "unseal.key"), directory / "admin-token")
    app = create_app_from_env()

    async def call(path: str, body: bytes) -> int:
        headers = [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"authorization", f"Bearer {token}".encode()),
        ]
        scope: Any = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80), "state": {},
        }  # fmt: skip
        sent = False
        status: list[int] = []

        async def receive() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()

        async def send(message: Any) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(scope, receive, send)
        return status[0]

    async def signer(count: int) -> None:
        for _ in range(count):
            assert await call("/v1/keys/bench/sign", BODY) == 200

    counts: collections.Counter[str] = collections.Counter()

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        frame.f_trace_opcodes = True
        if event == "opcode":
            counts[_where(frame)] += 1
        return tracer

    async with app.lifespan():
        assert await call("/v1/keys", b'{"name":"bench","type":"ed25519"}') == 201
        await asyncio.gather(*(signer(20) for _ in range(CONCURRENCY)))  # caches, keys, chains: warm
        sys.settrace(tracer)
        threading.settrace(tracer)
        try:
            await asyncio.gather(*(signer(requests // CONCURRENCY) for _ in range(CONCURRENCY)))
        finally:
            sys.settrace(None)
            threading.settrace(None)
    done = requests // CONCURRENCY * CONCURRENCY
    return done, dict(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=640)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--child", choices=["on", "off"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        done, counts = asyncio.run(_count(args.requests, args.child == "on"))
        print(json.dumps({"requests": done, "counts": counts}))
        return
    results = {}
    for mode in ("on", "off"):  # a process each: the settings come from the environment
        out = subprocess.run(
            [sys.executable, __file__, "--child", mode, "--requests", str(args.requests)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        results[mode] = json.loads(out.strip().splitlines()[-1])
    per = {m: {k: v / r["requests"] for k, v in r["counts"].items()} for m, r in results.items()}
    on, off = sum(per["on"].values()), sum(per["off"].values())
    print(f"bytecodes per sign request: security on {on:,.0f}, all three off {off:,.0f}, "
          f"difference {on - off:,.0f} ({off / on:.1%} of the work with security on)")  # fmt: skip
    diff = {k: per["on"].get(k, 0.0) - per["off"].get(k, 0.0) for k in per["on"].keys() | per["off"].keys()}
    for where, extra in sorted(diff.items(), key=lambda kv: -abs(kv[1]))[: args.top]:
        print(f"{extra:+9.1f}  (on {per['on'].get(where, 0.0):7.1f})  {where}")


if __name__ == "__main__":
    main()
