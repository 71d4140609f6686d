"""The committed OpenAPI document is the one the app generates (run `make openapi` after API changes)."""

import json
from pathlib import Path

from skms.api.openapi import render

SPEC = Path(__file__).resolve().parent.parent / "api" / "openapi.json"


def test_committed_spec_matches_the_app() -> None:
    assert SPEC.read_text() == render(), "api/openapi.json is stale: run `make openapi`"


def test_spec_is_openapi_31_with_every_route() -> None:
    spec = json.loads(SPEC.read_text())
    assert spec["openapi"].startswith("3.1")
    paths = set(spec["paths"])
    for route in (
        "/v1/keys",
        "/v1/keys/{name}",
        "/v1/keys/{name}/sign",
        "/v1/keys/{name}/encrypt",
        "/v1/wallets",
        "/v1/wallets/{name}/addresses",
        "/v1/wallets/{name}/sign",
        "/v1/sys/unseal",
        "/v1/sys/health",
        "/v1/sys/ready",
        "/v1/sys/seal-status",
        "/metrics",
        "/v1/random",
        "/v1/hash",
    ):
        assert route in paths, route
