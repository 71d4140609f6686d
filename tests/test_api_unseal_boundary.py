"""Initialization and unsealing at the trust boundary (issue 13, defects 1, 4 and 6), against real servers.

* No filesystem path comes from the network: ``keyfile`` is not a field of init or unseal, so
  ``/proc/self/fd/…``, directories, missing files and loose modes all get the same 400, and the
  server keeps answering. An initialized store answers init 409 before any other work.
* An operator's seal holds: ``{}``, another store's shares, a passphrase or a wrong key leave the
  store sealed, also across a restart; only the key file's own bytes unseal it.
* Failed unseal attempts back off per source (429 with Retry-After); a KDF never runs on the event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import shamir_mnemonic

from keys_support import OpenService
from server_process import ServerProcess, assert_problem, b64, server_fixture
from server_support import ServerProcess as BlankServer
from server_support import start_server
from skms.context import CURRENT, RequestContext
from skms.errors import Conflict, RateLimited, UnsealFailed
from skms.keys.seal import UnsealThrottle

server = server_fixture()

#: Paths that told an attacker something (or hung the server) when init read them.
PROBING_PATHS = ["/proc/self/fd/4", "/proc/self/fd/0", "/dev/zero", "/etc", "/etc/shadow", "/nonexistent/x.key",
                 "/etc/hostname"]  # fmt: skip


@pytest.fixture
def blank(tmp_path: Path) -> Iterator[BlankServer]:
    started = start_server(tmp_path / "blank", dev=False)
    try:
        yield started
    finally:
        started.stop()


def problem_without_id(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, r.text


def test_init_takes_no_path_and_is_no_file_oracle(blank: BlankServer) -> None:
    with httpx.Client(base_url=blank.addr, timeout=10) as c:
        answers = set()
        for path in PROBING_PATHS:
            r = c.post("/v1/sys/init", json={"method": "keyfile", "keyfile": path})
            assert_problem(r, 400, field="keyfile")
            answers.add(problem_without_id(r))
        assert len(answers) == 1, answers  # the same answer whatever the path: nothing to learn
        # keyfile without a path: only a key file in the server's configuration will do.
        r = c.post("/v1/sys/init", json={"method": "keyfile"})
        assert "unseal_keyfile" in assert_problem(r, 400)["detail"]
        assert c.get("/v1/sys/health").status_code == 200
        assert c.get("/v1/sys/seal-status").json()["initialized"] is False
        done = c.post("/v1/sys/init", json={"method": "shamir", "threshold": 2, "shares": 3})
        assert done.status_code == 200, done.text
        # Initialized: 409 at once, whatever else the body asks for (no KDF, no file).
        for body in ({"method": "passphrase", "passphrase": "x" * 40}, {"method": "keyfile"}, {"method": "shamir"}):
            assert_problem(c.post("/v1/sys/init", json=body), 409, title="Conflict")
        # Unseal takes no path either.
        assert_problem(c.post("/v1/sys/unseal", json={"keyfile": "/proc/self/fd/4"}), 400, field="keyfile")
        assert c.get("/v1/sys/health").status_code == 200


def test_unseal_refuses_every_variant_without_the_material_and_the_seal_survives_restart(
    server: ServerProcess,
) -> None:
    key = server.keyfile.read_bytes()
    sealed = server.fresh_request("POST", "/v1/sys/seal")
    assert sealed.status_code == 200 and sealed.json()["sealed"] is True
    other_store_shares = shamir_mnemonic.generate_mnemonics(1, [(2, 3)], os.urandom(32))[0][:2]
    attempts = [
        {},
        {"shares": other_store_shares},
        {"passphrase": "correct horse battery staple"},
        {"key": b64(os.urandom(32))},
        {"key": b64(key[:16])},
        {"key": b64(key), "shares": other_store_shares},
    ]
    with httpx.Client(base_url=server.url, timeout=30) as raw:
        for body in attempts:
            for _ in range(30):
                r = raw.post("/v1/sys/unseal", json=body)
                if r.status_code != 429:
                    break
                time.sleep(float(r.headers["retry-after"]))
            assert_problem(r, 400, title="UnsealFailed")
            assert raw.get("/v1/sys/seal-status").json()["sealed"] is True
    # A restart does not undo an operator's seal: the configured key file is not used by itself.
    server.restart(ready=False)  # on the same port at once (defect 11)
    for _ in range(4):
        assert server.fresh_request("GET", "/v1/sys/seal-status").json()["sealed"] is True
    with httpx.Client(base_url=server.url, timeout=30) as raw:
        for _ in range(60):
            r = raw.post("/v1/sys/unseal", json={"key": b64(key)})
            if r.status_code != 429:
                break
            time.sleep(float(r.headers["retry-after"]))
        assert r.status_code == 200, r.text
    server.wait_ready()
    # Unsealed by its material: the mark is gone, and the next restart unseals from the key file again.
    server.restart()


def test_failed_unseal_attempts_back_off_per_source(server: ServerProcess) -> None:
    assert server.fresh_request("POST", "/v1/sys/seal").status_code == 200
    with httpx.Client(base_url=server.url, timeout=30) as raw:
        answers = [raw.post("/v1/sys/unseal", json={"key": b64(os.urandom(32))}) for _ in range(8)]
        statuses = [r.status_code for r in answers]
        assert set(statuses) <= {400, 429}, statuses
        limited = [r for r in answers if r.status_code == 429]
        assert limited, statuses  # two workers: at most a few get through before both back off
        for r in limited:
            assert int(r.headers["retry-after"]) >= 1
            assert_problem(r, 429, title="RateLimited")
        # Health and seal status stay public and quick throughout.
        assert raw.get("/v1/sys/health").status_code == 200
        # Sealed, the audit log cannot take records: each tried secret is in the server log, without it.
        tries = [json.loads(line) for line in server.stderr_path.read_text().splitlines()
                 if line.startswith("{") and "failed unseal attempt" in line]  # fmt: skip
        assert tries and all(t["source"] == "127.0.0.1" and t["method"] == "keyfile" for t in tries), tries
        for _ in range(60):
            r = raw.post("/v1/sys/unseal", json={"key": b64(server.keyfile.read_bytes())})
            if r.status_code != 429:
                break
            time.sleep(float(r.headers["retry-after"]))
        assert r.status_code == 200, r.text
    server.wait_ready()


# -- the service layer ----------------------------------------------------------------------------


def test_throttle_backs_off_per_source_and_globally() -> None:
    now = [1000.0]
    throttle = UnsealThrottle(base=1.0, max_delay=60.0, free_failures=3, clock=lambda: now[0])
    throttle.admit("a")
    throttle.failed("a")
    with pytest.raises(RateLimited) as e:
        throttle.admit("a")
    assert e.value.retry_after == pytest.approx(1.0)
    throttle.admit("b")  # another source is not held back by one failure
    now[0] += 1.0
    throttle.failed("a")
    with pytest.raises(RateLimited) as e:
        throttle.admit("a")
    assert e.value.retry_after == pytest.approx(2.0)  # doubles
    for source in ("c", "d"):  # many sources: past the free failures, every source waits
        throttle.failed(source)
    with pytest.raises(RateLimited):
        throttle.admit("fresh")
    now[0] += 3600
    for _ in range(40):
        throttle.failed("a")
    now[0] += 1
    with pytest.raises(RateLimited) as e:
        throttle.admit("a")
    assert e.value.retry_after <= 60.0  # bounded
    throttle.succeeded()
    throttle.admit("a")


@pytest.mark.anyio
async def test_shares_of_another_store_are_refused_by_name(open_service: OpenService) -> None:
    svc = await open_service(unseal=False)
    result = await svc.sealer.initialize("shamir", threshold=2, shares=3)
    assert result.shares is not None
    svc.sealer.seal()
    foreign = shamir_mnemonic.generate_mnemonics(1, [(2, 3)], os.urandom(32))[0]
    token = CURRENT.set(RequestContext("t", "192.0.2.1"))
    try:
        for shares in (foreign[:2], [result.shares[0], foreign[1]]):
            with pytest.raises(UnsealFailed, match="another store"):
                await svc.sealer.unseal(shares=shares)
        with pytest.raises(UnsealFailed, match="2 distinct shares, 1 given"):
            await svc.sealer.unseal(shares=[result.shares[0], result.shares[0]])
        assert svc.sealer.sealed
        # Refusals for their form tried no secret: no back-off for them.
        await svc.sealer.unseal(shares=result.shares[1:])
        assert not svc.sealer.sealed
    finally:
        CURRENT.reset(token)
    with pytest.raises(Conflict):
        await svc.sealer.initialize("shamir")


@pytest.mark.anyio
async def test_unseal_kdf_runs_off_the_event_loop(open_service: OpenService) -> None:
    svc = await open_service(unseal=False)
    await svc.sealer.initialize("passphrase", passphrase="a long enough passphrase")
    svc.sealer.seal()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    try:
        await svc.sealer.unseal(passphrase="a long enough passphrase")
    finally:
        task.cancel()
    assert not svc.sealer.sealed
    assert ticks > 10  # the loop kept running while Argon2id derived the key
