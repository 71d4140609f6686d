"""HSM sign over HTTP (issue 14): HSM-resident P-256 and Ed25519 keys signing through a real
``skms serve`` against software keys of the same types on the same server, and against a bare
python-pkcs11 sign loop on the same SoftHSM2 token, all in the same run.

A fresh token (temporary ``SOFTHSM2_CONF`` and token directory, ``softhsm2-util --init-token``);
one server (granian, 2 workers, security on, SQLite) with the ``hsm_*`` settings; for each curve,
ROUNDS rounds of ROUND_SECONDS seconds each of four loads, in an order that rotates every round
(each goes first in a quarter of the rounds): wrk on the HSM key, wrk on the software key (64
connections, as benches/server/run.py), the bare loop in one process (as bench_hsm.py's: one
session, a plain ``for`` loop; P-256 hashed with SHA-256 in Python, then CKM_ECDSA) and the bare
loop in two processes at once (the server has two workers). Issue 14's target compares HSM over
HTTP with the one-process loop. Rounds are medians and ranges: on a shared 2-core machine one
pair of runs varies by 10% either way.

Run by ``make bench-server`` after benches/server/run.py; replaces the "HSM sign" section of
benches/RESULTS.md (or appends it). ``python -m benches.server.hsm`` runs it alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from benches.server.run import BIN, RESULTS, combined, free_port, process, wait_ready, wrk

ROUNDS = int(os.environ.get("SKMS_BENCH_ROUNDS", "8"))
ROUND_SECONDS = int(os.environ.get("SKMS_BENCH_ROUND_SECONDS", "4"))
MODULES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so")
LABEL = "skms-bench"
PIN_ENV = "SKMS_BENCH_HSM_PIN"
PIN = "1234"
MESSAGE = b"hello world"  # the body of every wrk request below: {"input": base64 of this}
BODY = '{"input":"aGVsbG8gd29ybGQ="}'
CURVES = (("p256", "ecdsa-p256"), ("ed25519", "ed25519"))
LOADS = ("hsm_http", "soft_http", "bare_1", "bare_2")
SECTION = "## HSM sign (issue 14)"
ROOT = Path(__file__).resolve().parents[2]


def bare_loop(kind: str) -> None:
    """A child process: signs with the token's one key of ``kind`` until told to stop.

    Prints ``ready`` once logged in with the key found, starts on a line on stdin, signs for the
    seconds that line gives and prints ``{"signs": n, "seconds": s}``.
    """
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

    lib = pkcs11.lib(os.environ["SKMS_HSM_MODULE"])
    session = lib.get_token(token_label=LABEL).open(user_pin=os.environ[PIN_ENV])
    key_type = KeyType.EC_EDWARDS if kind == "ed25519" else KeyType.EC
    [found] = session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.KEY_TYPE: key_type})
    key: Any = found  # a private key of the token: python-pkcs11 types it as Object
    if kind == "ed25519":

        def sign() -> None:
            key.sign(MESSAGE, mechanism=Mechanism.EDDSA)

    else:

        def sign() -> None:
            key.sign(hashlib.sha256(MESSAGE).digest(), mechanism=Mechanism.ECDSA)

    sign()
    print("ready", flush=True)
    seconds = float(sys.stdin.readline())
    n = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(100):
            sign()
        n += 100
        if time.perf_counter() >= deadline:
            break
    print(json.dumps({"signs": n, "seconds": time.perf_counter() - started}), flush=True)
    session.close()


def run_bare(kind: str, processes: int, env: dict[str, str]) -> dict[str, Any]:
    """The bare loop in ``processes`` processes at once, started together once all are ready."""
    args = [sys.executable, "-m", "benches.server.hsm", "--bare-loop", kind]
    procs: list[subprocess.Popen[str]] = []
    try:
        # One after the other: SoftHSM2 processes that initialise at the same moment can miss the
        # token (NoSuchToken) while another one reads its files.
        for _ in range(processes):
            p = subprocess.Popen(args, env=env, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            procs.append(p)
            assert p.stdout is not None
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError("the bare loop did not start")
        for p in procs:
            assert p.stdin is not None
            p.stdin.write(f"{ROUND_SECONDS}\n")
            p.stdin.flush()
        outs = [json.loads(p.communicate(timeout=ROUND_SECONDS + 60)[0]) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    signs = sum(o["signs"] for o in outs)
    seconds = max(o["seconds"] for o in outs)
    return {"requests": signs, "duration_us": int(seconds * 1e6), "rps": signs / seconds}


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> None:
    module = os.environ.get("SKMS_TEST_PKCS11_MODULE") or next((m for m in MODULES if Path(m).is_file()), None)
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    if module is None or shutil.which("softhsm2-util") is None:
        sys.exit("SoftHSM2 is not installed (apt-get install softhsm2)")
    work = Path(tempfile.mkdtemp(prefix="skms-bench-hsm-"))
    tokens = work / "tokens"
    tokens.mkdir()
    conf = work / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    hsm_env = {
        "SOFTHSM2_CONF": str(conf),
        "SKMS_HSM_MODULE": module,
        "SKMS_HSM_TOKEN_LABEL": LABEL,
        "SKMS_HSM_PIN_ENV": PIN_ENV,  # the variable's name: the PIN itself is only in the environment
        PIN_ENV: PIN,
    }
    env = {**os.environ, "SKMS_LOG_LEVEL": os.environ.get("SKMS_LOG_LEVEL", "WARNING"), **hsm_env}
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", LABEL, "--pin", PIN, "--so-pin", "5678"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve = [str(BIN / "skms"), "serve", "--dev", "--data-dir", str(work / "dev"), "--listen", f"127.0.0.1:{port}",
             "--workers", "2"]  # fmt: skip
    results: dict[str, Any] = {}
    with process(serve, env, work / "skms.log"):
        wait_ready(f"{base}/v1/sys/ready")
        token = (work / "dev" / "admin-token").read_text().strip()
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
            for curve, type_ in CURVES:
                c.post("/v1/keys", json={"name": f"h-{curve}", "type": type_, "backend": "hsm"}).raise_for_status()
                c.post("/v1/keys", json={"name": f"s-{curve}", "type": type_}).raise_for_status()
        bare_env = {**env, "PYTHONPATH": str(ROOT)}
        for curve, type_ in CURVES:
            loads: dict[str, Callable[[], dict[str, Any]]] = {
                "hsm_http": partial(wrk, f"{base}/v1/keys/h-{curve}/sign", BODY, token=token, seconds=ROUND_SECONDS),
                "soft_http": partial(wrk, f"{base}/v1/keys/s-{curve}/sign", BODY, token=token, seconds=ROUND_SECONDS),
                "bare_1": partial(run_bare, type_, 1, bare_env),
                "bare_2": partial(run_bare, type_, 2, bare_env),
            }
            rounds: list[dict[str, dict[str, Any]]] = []
            for i in range(ROUNDS):
                order = LOADS[i % len(LOADS) :] + LOADS[: i % len(LOADS)]
                runs = {name: loads[name]() for name in order}
                rounds.append(runs)
                print(f"{curve} round {i + 1}: " + ", ".join(f"{n} {runs[n]['rps']:,.0f}/s" for n in LOADS), flush=True)
            for name in LOADS:
                if name.endswith("_http"):
                    results[f"{name}_{curve}"] = combined([r[name] for r in rounds])
                else:
                    signs = sum(r[name]["requests"] for r in rounds)
                    seconds = sum(r[name]["duration_us"] for r in rounds) / 1e6
                    results[f"{name}_{curve}"] = {"requests": signs, "duration_us": int(seconds * 1e6),
                                                  "rps": signs / seconds}  # fmt: skip
                results[f"rounds_{name}_{curve}"] = [r[name]["rps"] for r in rounds]
            for peer in ("bare_1", "bare_2", "soft_http"):
                results[f"ratio_hsm_{peer}_{curve}"] = [r["hsm_http"]["rps"] / r[peer]["rps"] for r in rounds]
    write_results(results)


def write_results(r: dict[str, Any]) -> None:
    def rate(name: str, curve: str) -> str:
        s = summary(r[f"rounds_{name}_{curve}"])
        return f"{r[f'{name}_{curve}']['rps']:,.0f}/s (rounds {s['min']:,.0f}–{s['max']:,.0f})"

    def ratio(peer: str, curve: str) -> str:
        s = summary(r[f"ratio_hsm_{peer}_{curve}"])
        whole = r[f"hsm_http_{curve}"]["rps"] / r[f"{peer}_{curve}"]["rps"]
        return f"{whole:.0%} (median round {s['median']:.0%}, range {s['min']:.0%}–{s['max']:.0%})"

    names = {"p256": "P-256", "ed25519": "Ed25519"}
    rows = []
    for curve, _ in CURVES:
        n = names[curve]
        non2xx = sum(r[f"{h}_{curve}"]["non2xx"] + r[f"{h}_{curve}"]["errors"] for h in ("hsm_http", "soft_http"))
        rows += [
            (f"{n}: HSM key over HTTP", rate("hsm_http", curve), f"errors and non-2xx {non2xx}", ""),
            (f"{n}: software key over HTTP", rate("soft_http", curve), "", ""),
            (f"{n}: bare python-pkcs11 loop, 1 process", rate("bare_1", curve), "", ""),
            (f"{n}: bare python-pkcs11 loop, 2 processes", rate("bare_2", curve), "", ""),
            (f"{n}: HSM over HTTP / bare loop (1 process)", ratio("bare_1", curve), "", "≥ 70% (issue 14)"),
            (f"{n}: HSM over HTTP / bare loop (2 processes)", ratio("bare_2", curve), "", ""),
            (f"{n}: HSM over HTTP / software over HTTP", ratio("soft_http", curve), "", ""),
        ]
    lines = [
        SECTION,
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · SoftHSM2 token (file object store) · server: granian, 2 workers,"
        f" SQLite store, security on · wrk 2 threads, 64 connections · {ROUNDS} rounds of {ROUND_SECONDS} s of each"
        " load, in an order that rotates every round · bare loop: one session, a plain loop (P-256: SHA-256 in"
        " Python, then CKM_ECDSA; Ed25519: CKM_EDDSA), one process or two at once",
        "",
        "| benchmark | measured | ratio / notes | target |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
        "Raw figures (HSM sign):",
        "",
        "```json",
        json.dumps(r, indent=1, default=float),
        "```",
        "",
    ]
    section = "\n".join(lines)
    text = RESULTS.read_text() if RESULTS.exists() else "# Server benchmark results\n"
    start = text.find(SECTION)
    if start >= 0:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + (text[end + 1 :] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)
    print(section)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--bare-loop"]:
        bare_loop(sys.argv[2])
    else:
        main()
