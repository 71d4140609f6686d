"""Server benchmarks: SKMS over HTTP against a bare Litestar endpoint and against SKMS with its
security layer off (authentication, authorization and audit), all measured in the same run.

Starts real servers (granian, 2 workers) on loopback, drives them with wrk, and
writes benches/RESULTS.md. Run with ``make bench-server`` (wrk is installed by
the Makefile when missing). Every load is bounded in time and stays on 127.0.0.1.
"""

import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DURATION = int(os.environ.get("SKMS_BENCH_SECONDS", "8"))
RESULTS = ROOT / "benches" / "RESULTS.md"
#: Alternating rounds of security on and off (issue 7), and the seconds of each.
ROUNDS = int(os.environ.get("SKMS_BENCH_ROUNDS", "8"))
ROUND_SECONDS = int(os.environ.get("SKMS_BENCH_ROUND_SECONDS", "4"))

LUA = """
wrk.method = "{method}"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
{auth}
{extra}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {{"requests":%d,"duration_us":%d,"errors":%d,"non2xx":%d,' ..
    '"p50":%d,"p95":%d,"p99":%d}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""

UNIQUE_NAMES = """
local counter = 0
local threads = 0
local prefix = ""
-- Every wrk thread has its own Lua state with the same random seed: the thread number set
-- here keeps the names of different threads apart.
setup = function(thread) threads = threads + 1; thread:set("tid", threads) end
init = function(args) prefix = string.format("%d-%x", tid, os.time()) end
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, string.format('{"name":"bench-%s-%d","type":"ecdsa-secp256k1"}', prefix, counter))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield proc
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def wrk(url: str, body: str, *, token: str | None = None, connections: int = 64, seconds: int = DURATION,
        method: str = "POST", extra: str = "") -> dict[str, Any]:  # fmt: skip
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"' if token else ""
    script = LUA.format(method=method, body=json.dumps(body), auth=auth, extra=extra)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", f.name, url],
            capture_output=True, text=True, timeout=seconds + 60, check=True,
        ).stdout  # fmt: skip
    finally:
        os.unlink(f.name)
    match = re.search(r"RESULT (\{.*\})", out)
    if not match:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    r = json.loads(match.group(1))
    # Only answers that did the work count: a 429 or 503 is fast but is not a signature or a key.
    r["rps"] = (r["requests"] - r["non2xx"]) / (r["duration_us"] / 1e6)
    return r


def combined(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several wrk runs as one: their requests over their time (latencies of the slowest run)."""
    total = {k: sum(r[k] for r in runs) for k in ("requests", "duration_us", "errors", "non2xx")}
    total.update({p: max(r[p] for r in runs) for p in ("p50", "p95", "p99")})
    total["rps"] = (total["requests"] - total["non2xx"]) / (total["duration_us"] / 1e6)
    return total


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    work = Path(tempfile.mkdtemp(prefix="skms-bench-"))
    env = {**os.environ, "SKMS_LOG_LEVEL": os.environ.get("SKMS_LOG_LEVEL", "WARNING")}
    results: dict[str, Any] = {}
    bare_port, skms_port, open_port = free_port(), free_port(), free_port()
    bare = [str(BIN / "granian"), "--interface", "asgi", "--workers", "2", "--host", "127.0.0.1", "--port",
            str(bare_port), "--no-ws", "--log-level", "warning", "benches.server.bare_app:app"]  # fmt: skip
    skms = [str(BIN / "skms"), "serve", "--dev", "--data-dir", str(work / "dev"), "--listen", f"127.0.0.1:{skms_port}",
            "--workers", "2"]  # fmt: skip
    # The same server with authentication, authorization and audit off (issue 7's baseline).
    unsecured = [str(BIN / "skms"), "serve", "--dev", "--insecure-no-security", "--data-dir", str(work / "open"),
                 "--listen", f"127.0.0.1:{open_port}", "--workers", "2"]  # fmt: skip
    # One principal creates every key: its admin-class rate limit (200/s by default) would be
    # measured instead of the store.
    skms_env = {**env, "SKMS_RATE_LIMIT_ADMIN": "1000000"}
    with (
        process(bare, {**env, "PYTHONPATH": str(ROOT)}, work / "bare.log"),
        process(skms, skms_env, work / "skms.log"),
        process(unsecured, env, work / "open.log"),
    ):
        base = f"http://127.0.0.1:{skms_port}"
        open_base = f"http://127.0.0.1:{open_port}"
        wait_ready(f"http://127.0.0.1:{bare_port}/sign/ed25519")
        wait_ready(f"{base}/v1/sys/ready")
        wait_ready(f"{open_base}/v1/sys/ready")
        with httpx.Client(base_url=open_base, timeout=60) as c:
            for name, type_ in (("b-secp", "ecdsa-secp256k1"), ("b-ed", "ed25519")):
                c.post("/v1/keys", json={"name": name, "type": type_}).raise_for_status()
        token = (work / "dev" / "admin-token").read_text().strip()
        h = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=h, timeout=60) as c:
            for name, type_ in (("b-secp", "ecdsa-secp256k1"), ("b-ed", "ed25519"), ("b-aes", "aes256-gcm")):
                c.post("/v1/keys", json={"name": name, "type": type_}).raise_for_status()
            c.post("/v1/wallets", json={"name": "b-wallet", "words": 12}).raise_for_status()
            plaintext = "A" * 1368  # 1 KiB of data, base64
            ct = c.post("/v1/keys/b-aes/encrypt", json={"plaintext": plaintext}).json()["ciphertext"]
            one = '{"input":"aGVsbG8gd29ybGQ="}'
            for curve, key in (("secp256k1", "b-secp"), ("ed25519", "b-ed")):
                results[f"bare_{curve}"] = wrk(f"http://127.0.0.1:{bare_port}/sign/{curve}", one)
                # Security on and off alternate, ROUNDS times, each going first in every other
                # round: on a shared 2-core machine a single pair of runs varies by 10% either way.
                rounds = []
                for i in range(ROUNDS):
                    runs = {}
                    for secured in (False, True) if i % 2 == 0 else (True, False):
                        runs[secured] = wrk(f"{base if secured else open_base}/v1/keys/{key}/sign", one,
                                            token=token if secured else None, seconds=ROUND_SECONDS)  # fmt: skip
                    rounds.append((runs[False], runs[True]))
                results[f"open_{curve}"] = combined([off for off, _ in rounds])
                results[f"skms_{curve}"] = combined([on for _, on in rounds])
                results[f"rounds_{curve}"] = [on["rps"] / off["rps"] for off, on in rounds]
            for n in (100, 1000):
                body = json.dumps({"batch": [{"input": "aGVsbG8gd29ybGQ="}] * n})
                r = wrk(f"{base}/v1/keys/b-secp/sign", body, token=token, connections=8)
                r["signatures_per_s"] = r["rps"] * n
                results[f"batch_{n}"] = r
            results["encrypt_1k"] = wrk(
                f"{base}/v1/keys/b-aes/encrypt", json.dumps({"plaintext": plaintext}), token=token
            )
            results["decrypt_1k"] = wrk(f"{base}/v1/keys/b-aes/decrypt", json.dumps({"ciphertext": ct}), token=token)
            results["create_key"] = wrk(f"{base}/v1/keys", "", token=token, extra=UNIQUE_NAMES)
            started = time.perf_counter()
            rounds = 5
            for _ in range(rounds):
                c.post("/v1/wallets/b-wallet/addresses", json={"chain": "ethereum", "count": 10000}).raise_for_status()
            results["addresses_10k_ms"] = (time.perf_counter() - started) / rounds * 1000
            results["latency_64"] = wrk(f"{base}/v1/keys/b-ed/sign", one, token=token, connections=64)
            results["latency_1000"] = wrk(f"{base}/v1/keys/b-ed/sign", one, token=token, connections=1000)
    write_results(results)
    print(RESULTS.read_text())


def write_results(r: dict[str, Any]) -> None:
    cpu = "unknown"
    with contextlib.suppress(OSError, StopIteration), open("/proc/cpuinfo") as info:
        cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))

    def ratio(a: str, b: str) -> float:
        return float(r[a]["rps"] / r[b]["rps"])

    rows = [
        *[
            (
                f"Single sign {curve}, security on vs all three off",
                f"{r[f'skms_{curve}']['rps']:,.0f} vs {r[f'open_{curve}']['rps']:,.0f} req/s",
                f"{ratio(f'skms_{curve}', f'open_{curve}'):.0%} over {ROUNDS} alternating rounds of"
                f" {ROUND_SECONDS} s (median round {statistics.median(r[f'rounds_{curve}']):.0%},"
                f" range {min(r[f'rounds_{curve}']):.0%}–{max(r[f'rounds_{curve}']):.0%})",
                "≥ 70% (issue 7)",
            )
            for curve in ("secp256k1", "ed25519")
        ],
        (
            "Single sign secp256k1, full security vs bare",
            f"{r['skms_secp256k1']['rps']:,.0f} vs {r['bare_secp256k1']['rps']:,.0f} req/s",
            f"{ratio('skms_secp256k1', 'bare_secp256k1'):.0%}",
            "≥ 70% (issue 8)",
        ),
        (
            "Single sign Ed25519, full security vs bare",
            f"{r['skms_ed25519']['rps']:,.0f} vs {r['bare_ed25519']['rps']:,.0f} req/s",
            f"{ratio('skms_ed25519', 'bare_ed25519'):.0%}",
            "≥ 70% (issue 8)",
        ),
        ("Batch sign, 100 per request", f"{r['batch_100']['signatures_per_s']:,.0f} sig/s", "", "≥ 50,000 sig/s"),
        ("Batch sign, 1,000 per request", f"{r['batch_1000']['signatures_per_s']:,.0f} sig/s", "", "≥ 50,000 sig/s"),
        ("Encrypt 1 KiB (AES-256-GCM)", f"{r['encrypt_1k']['rps']:,.0f} req/s", "", ""),
        ("Decrypt 1 KiB (AES-256-GCM)", f"{r['decrypt_1k']['rps']:,.0f} req/s", "", ""),
        ("Key creation over HTTP, durable", f"{r['create_key']['rps']:,.0f} keys/s",
         f"non-2xx {r['create_key']['non2xx']}", "≥ 1,000 keys/s"),
        ("10,000 addresses in one request", f"{r['addresses_10k_ms']:,.0f} ms", "", ""),
        ("Latency at 64 connections (p50/p95/p99)",
         "/".join(f"{r['latency_64'][p] / 1000:.1f}" for p in ("p50", "p95", "p99")) + " ms", "", "p95 < 10 ms"),
        ("Latency at 1,000 connections (p50/p95/p99)",
         "/".join(f"{r['latency_1000'][p] / 1000:.1f}" for p in ("p50", "p95", "p99")) + " ms",
         f"errors {r['latency_1000']['errors']}, non-2xx {r['latency_1000']['non2xx']}", "no errors, p99 < 100 ms"),
    ]  # fmt: skip
    lines = [
        "# Server benchmark results",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {os.cpu_count()} cores · {cpu} · Python {platform.python_version()}"
        f" · wrk on the same machine (2 threads) · server: granian, 2 workers, SQLite store, audit on",
        "",
        "| benchmark | measured | ratio / notes | target |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
        "Raw wrk figures:",
        "",
        "```json",
        json.dumps(r, indent=1, default=float),
        "```",
        "",
    ]
    RESULTS.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
