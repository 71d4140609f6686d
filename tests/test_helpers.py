"""The test helpers of conftest.py: vector loading and strict-mode service checks."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def test_vectors_load_json_and_csv(vectors: Callable[[str], Any]) -> None:
    rows = vectors("bip340_test_vectors.csv")
    assert rows[0]["index"] == "0"
    assert vectors("rfc8032_ed25519_vectors.json")["tests"]
    assert isinstance(vectors("README.md"), bytes)


def test_vectors_missing_file_is_an_error(vectors: Callable[[str], Any]) -> None:
    with pytest.raises(FileNotFoundError):
        vectors("no_such_file.json")


def test_vectors_do_not_need_shared() -> None:
    """Every file the tests name is in the repository (a clone has no ../shared)."""
    here = Path(__file__).parent
    for test_file in [here / "conftest.py", *here.glob("test_*.py")]:
        if test_file.name == Path(__file__).name:
            continue
        code = test_file.read_text(encoding="utf-8")
        assert "shared/vectors" not in code, test_file.name


def test_require_service_skips_without_strict_mode(
    require_service: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SKMS_TEST_STRICT", raising=False)
    monkeypatch.setenv("SKMS_TEST_REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on 1
    with pytest.raises(pytest.skip.Exception, match="redis is not available"):
        require_service("redis")


def test_require_service_fails_in_strict_mode(
    require_service: Callable[[str], str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SKMS_TEST_STRICT", "1")
    monkeypatch.setenv("SKMS_TEST_POSTGRES_DSN", "postgresql://u:p@127.0.0.1:1/db")
    monkeypatch.setenv("SKMS_TEST_PKCS11_MODULE", str(tmp_path / "missing.so"))
    for name in ("postgres", "softhsm"):
        with pytest.raises(pytest.fail.Exception, match="SKMS_TEST_STRICT=1"):
            require_service(name)


def test_require_service_finds_running_services(
    require_service: Callable[[str], str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SKMS_TEST_STRICT", "1")
    module = tmp_path / "libsofthsm2.so"
    module.write_bytes(b"")
    monkeypatch.setenv("SKMS_TEST_PKCS11_MODULE", str(module))
    assert require_service("softhsm") == str(module)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        dsn = f"postgresql://u:p@127.0.0.1:{listener.getsockname()[1]}/db"
        monkeypatch.setenv("SKMS_TEST_POSTGRES_DSN", dsn)
        assert require_service("postgresql") == dsn


def test_require_service_rejects_unknown_names(require_service: Callable[[str], str]) -> None:
    with pytest.raises(ValueError, match="unknown service"):
        require_service("mysql")
