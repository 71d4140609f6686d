"""``insecure_no_security``: the benchmark baseline with authentication, authorization and audit off.

It exists so that the cost of the security layer can be measured against the same server
(benches/server/run.py). It must be impossible to switch on by accident: only on a loopback
address, and from the CLI only together with ``--dev``.
"""

import subprocess
from typing import Any

import pytest

from server_process import ServerProcess, server_fixture, skms_command
from skms.api.settings import Settings
from skms.errors import InvalidInput

server = server_fixture(SKMS_INSECURE_NO_SECURITY="true")


@pytest.mark.parametrize("listen", ["0.0.0.0:8470", "10.1.2.3:8470", "[::]:8470", "example.com:8470"])
def test_refused_unless_loopback(listen: str) -> None:
    with pytest.raises(InvalidInput, match=r"insecure_no_security .* loopback"):
        Settings(listen=listen, insecure_no_security=True)


@pytest.mark.parametrize("listen", ["127.0.0.1:8470", "[::1]:8470", "localhost:8470"])
def test_accepted_on_loopback(listen: str) -> None:
    assert Settings(listen=listen, insecure_no_security=True).insecure_no_security
    assert not Settings(listen=listen).insecure_no_security  # off unless asked for


def test_cli_flag_needs_dev() -> None:
    done = subprocess.run(
        [*skms_command(), "serve", "--insecure-no-security", "--listen", "127.0.0.1:9"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "needs --dev" in done.stderr


def test_cli_refuses_a_public_address(tmp_path: Any) -> None:
    done = subprocess.run(
        [*skms_command(), "serve", "--dev", "--insecure-no-security", "--data-dir", str(tmp_path),
         "--listen", "0.0.0.0:9"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "loopback" in done.stderr


def test_requests_need_no_credentials_and_leave_no_audit_record(server: ServerProcess) -> None:
    anonymous = server.client(token="")  # no Authorization header at all
    created = anonymous.post("/v1/keys", json={"name": "open-signer", "type": "ed25519"})
    assert created.status_code == 201, created.text
    signed = anonymous.post("/v1/keys/open-signer/sign", json={"input": "aGVsbG8="})
    assert signed.status_code == 200, signed.text
    verified = anonymous.post(
        "/v1/keys/open-signer/verify", json={"input": "aGVsbG8=", "signature": signed.json()["signature"]}
    )
    assert verified.json()["valid"] is True
    records = anonymous.get("/v1/audit", params={"resource": "key:open-signer"})
    assert records.status_code == 200, records.text
    assert records.json()["records"] == []


def test_the_server_says_security_is_off(server: ServerProcess) -> None:
    banner, records = server.log_records()
    assert any("security OFF" in line for line in banner)
    assert any("insecure_no_security" in line and '"level":"warning"' in line for line in records)
