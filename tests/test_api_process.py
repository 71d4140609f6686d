"""The server process and its files (issue 13, defects 10 and 11), with real ``skms serve`` processes.

* Store files (``skms.db``, ``-wal``, ``-shm``, the write lock) are 0600 and the data directory
  0700; a store with group- or world-readable files is refused (outside development, where it is
  fixed with a loud warning).
* ``kill -9`` of the main process: its workers stop within 2 s; a new server starts on the same
  port at once, while a live server's port is still refused.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from server_process import ServerProcess, server_fixture
from server_support import start_server

server = server_fixture()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_store_files_are_the_owners_only(server: ServerProcess) -> None:
    if server.backend != "sqlite":
        pytest.skip("SQLite files only")
    assert server.client().post("/v1/keys", json={"name": "perm", "type": "aes256-gcm"}).status_code == 201
    assert mode(server.data_dir) == 0o700
    files = [server.data_dir / n for n in ("skms.db", "skms.db-wal", "skms.db-shm", "skms.db-writelock")]
    files += [server.data_dir / "admin-token", server.data_dir / "unseal.key"]
    for path in files:
        assert path.exists(), path
        assert mode(path) == 0o600, (path, oct(mode(path)))


def test_loose_store_files_are_refused_outside_development(tmp_path: Path) -> None:
    blank = start_server(tmp_path / "store", dev=False)
    blank.stop()
    db = tmp_path / "store" / "skms.db"
    assert mode(db) == 0o600
    db.chmod(0o644)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKMS_")}
    env["SKMS_DATABASE_URL"] = f"sqlite:///{db}"
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    addr = f"127.0.0.1:{port.getsockname()[1]}"
    port.close()
    done = subprocess.run(
        [*_skms(), "serve", "--data-dir", str(tmp_path / "store"), "--listen", addr, "--workers", "1"],
        env=env, capture_output=True, timeout=60,
    )  # fmt: skip
    output = (done.stdout + done.stderr).decode(errors="replace")
    assert done.returncode != 0, output
    assert "skms.db (mode 0644)" in output and "chmod 600" in output, output[-2000:]
    # Development fixes its own directory loudly.
    dev_dir = tmp_path / "dev"
    dev = start_server(dev_dir)
    dev.stop()
    (dev_dir / "skms.db").chmod(0o644)
    dev_dir.chmod(0o755)
    again = start_server(dev_dir)
    try:
        said = " ".join(again.log().split())  # the banner wraps long lines
        assert "skms.db was mode 0644" in said and "set to 0700" in said, said
        assert mode(dev_dir / "skms.db") == 0o600 and mode(dev_dir) == 0o700
    finally:
        again.stop()


def _skms() -> list[str]:
    from server_process import skms_command

    return skms_command()


def test_workers_die_with_the_main_process_and_the_port_is_free_at_once(server: ServerProcess) -> None:
    assert server.proc is not None
    main = server.proc.pid
    workers = children(main)
    assert len(workers) >= 2, workers
    # Connections in TIME_WAIT on the port, as a crashed busy server leaves them.
    for _ in range(20):
        httpx.get(f"{server.url}/v1/sys/health", headers={"connection": "close"})
    os.kill(main, signal.SIGKILL)
    server.proc.wait(timeout=5)
    killed = time.monotonic()
    while any(alive(w) for w in workers) and time.monotonic() - killed < 5:
        time.sleep(0.05)
    took = time.monotonic() - killed
    print(f"\nworkers gone {took:.2f} s after kill -9 of the main process")
    assert not any(alive(w) for w in workers), "workers still serving after the main process died"
    assert took < 2.0, took
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/v1/sys/health", timeout=2)
    server.restart()  # on the same port, at once
    # A live server's port is still refused.
    second = subprocess.run(
        [*_skms(), "serve", "--dev", "--data-dir", str(server.data_dir.parent / "second"),
         "--listen", f"127.0.0.1:{server.port}"],
        capture_output=True, timeout=60, env={k: v for k, v in os.environ.items() if not k.startswith("SKMS_")},
    )  # fmt: skip
    assert second.returncode != 0
    assert b"cannot listen" in second.stderr + second.stdout
    assert server.client().get("/v1/sys/health").status_code == 200
