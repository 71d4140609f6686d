"""Batch calls from several Python threads at once, and the GIL released meanwhile."""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from skms.crypto import ed25519, secp256k1

THREADS = 4
ITEMS = 1_000
ROUNDS = 2
OVERLAP = 2  # jobs per thread: its own and its neighbour's


def _digest(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


@dataclass(frozen=True)
class Job:
    """One thread's share of work: its own keys and messages."""

    secp_key: bytes
    secp_keys: list[bytes]
    digests: list[bytes]
    ed_key: bytes
    messages: list[bytes]


def _jobs() -> list[Job]:
    jobs = []
    for t in range(THREADS):
        jobs.append(
            Job(
                secp_key=_digest("secp", t),
                secp_keys=[_digest("many", t, i) for i in range(ITEMS)],
                digests=[_digest("digest", t, i) for i in range(ITEMS)],
                ed_key=_digest("ed", t),
                messages=[b"message %d/%d" % (t, i) * (i % 7) for i in range(ITEMS)],
            )
        )
    return jobs


def _run(job: Job) -> tuple[object, ...]:
    """Every batch entry point, with a wrong item in each verification."""
    signatures = secp256k1.sign_batch(job.secp_key, job.digests)
    many = secp256k1.sign_many(job.secp_keys, job.digests)
    public = secp256k1.public_key(job.secp_key)
    tampered = [*signatures[:-1], many[-1]]  # the last item is by another key
    verified = secp256k1.verify_batch(public, job.digests, tampered)
    many_keys = [secp256k1.public_key(k) for k in job.secp_keys[:100]]
    many_verified = secp256k1.verify_batch(many_keys, job.digests[:100], many[:100])
    ed_signatures = ed25519.sign_batch(job.ed_key, job.messages)
    ed_public = ed25519.public_key(job.ed_key)
    ed_tampered = [*ed_signatures[1:], ed_signatures[0]]  # all shifted: only repeats verify
    ed_verified = ed25519.verify_batch(ed_public, job.messages, ed_signatures)
    ed_shifted = ed25519.verify_batch(ed_public, job.messages, ed_tampered)
    return (
        signatures,
        many,
        verified,
        many_verified,
        ed_signatures,
        ed_verified,
        ed_shifted,
    )


@pytest.fixture(scope="module")
def jobs() -> list[Job]:
    return _jobs()


@pytest.fixture(scope="module")
def sequential(jobs: list[Job]) -> list[tuple[object, ...]]:
    return [_run(job) for job in jobs]


def test_sequential_results_are_right(jobs: list[Job], sequential: list[tuple[object, ...]]) -> None:
    """The baseline the threaded runs are compared with is itself correct."""
    for job, result in zip(jobs, sequential, strict=True):
        signatures, many, verified, many_verified, ed_sigs, ed_ok, ed_shifted = result
        assert signatures == [secp256k1.sign(job.secp_key, d) for d in job.digests]
        assert many == [secp256k1.sign(k, d) for k, d in zip(job.secp_keys, job.digests, strict=True)]
        assert verified == [True] * (ITEMS - 1) + [False]
        assert many_verified == [True] * 100
        assert ed_sigs == [ed25519.sign(job.ed_key, m) for m in job.messages]
        assert ed_ok == [True] * ITEMS
        shifted = [*job.messages[1:], job.messages[0]]
        assert ed_shifted == [a == b for a, b in zip(job.messages, shifted, strict=True)]


def test_threads_at_once_match_sequential(jobs: list[Job], sequential: list[tuple[object, ...]]) -> None:
    start = threading.Barrier(THREADS)

    def worker(index: int) -> list[tuple[object, ...]]:
        start.wait()  # all threads enter the native core together
        # Each thread also runs its neighbour's job, so the same inputs are
        # in flight on two threads at once.
        order = [jobs[(index + k) % THREADS] for k in range(OVERLAP)]
        return [_run(job) for job in order]

    for _ in range(ROUNDS):
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            results = list(pool.map(worker, range(THREADS)))
        for index, per_thread in enumerate(results):
            expected = [sequential[(index + k) % THREADS] for k in range(OVERLAP)]
            assert per_thread == expected


@contextmanager
def _python_thread_counting() -> Iterator[Callable[[], int]]:
    """A pure-Python thread counting while the caller runs.

    The switch interval is set so long that the counter can run only when
    the calling thread releases the GIL itself (the counter yields it back
    at every step with sleep(0)). So the count can only move while the
    caller is inside a native call that released the GIL.
    """
    count = 0
    done = False

    def counter() -> None:
        nonlocal count
        while not done:
            count += 1
            time.sleep(0)  # hand the GIL back as soon as the caller wants it

    previous = sys.getswitchinterval()
    sys.setswitchinterval(60.0)
    thread = threading.Thread(target=counter, daemon=True)
    try:
        thread.start()
        start = count
        yield lambda: count - start
    finally:
        done = True
        sys.setswitchinterval(previous)
        thread.join()


def test_control_gil_held_means_no_progress() -> None:
    """The measure works: pure Python work holding the GIL lets the counter do nothing."""
    data = [(i * 7919) % 200_003 for i in range(200_000)]
    with _python_thread_counting() as progress:
        sorted(data)  # C code that keeps the GIL
        assert progress() == 0


def _secp_sign_batch() -> Callable[[], object]:
    key, digests = _digest("k"), [_digest(i) for i in range(20_000)]
    return lambda: secp256k1.sign_batch(key, digests)


def _secp_sign_many() -> Callable[[], object]:
    keys = [_digest("k", i) for i in range(20_000)]
    digests = [_digest(i) for i in range(20_000)]
    return lambda: secp256k1.sign_many(keys, digests)


def _ed_verify_batch() -> Callable[[], object]:
    key = _digest("e")
    messages = [b"m%d" % i for i in range(20_000)]
    signatures = ed25519.sign_batch(key, messages)
    return lambda: ed25519.verify_batch(ed25519.public_key(key), messages, signatures)


@pytest.mark.parametrize(
    "prepare",
    [_secp_sign_batch, _secp_sign_many, _ed_verify_batch],
    ids=["secp256k1.sign_batch", "secp256k1.sign_many", "ed25519.verify_batch"],
)
def test_gil_is_released_during_batches(prepare: Callable[[], Callable[[], object]]) -> None:
    native_call = prepare()  # inputs are built before counting starts
    with _python_thread_counting() as progress:
        native_call()
        made = progress()
    assert made > 0
