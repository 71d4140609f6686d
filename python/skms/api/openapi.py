"""The OpenAPI 3.1 document, generated from the app: ``python -m skms.api.openapi > api/openapi.json``."""

import base64
import json
import sys
from typing import Any

from skms.api.app import create_app
from skms.api.settings import Settings


def spec() -> dict[str, Any]:
    app = create_app(Settings(database_url="sqlite:///:memory:"))
    return app.openapi_schema.to_schema()


def _json_default(value: object) -> str:
    if isinstance(value, bytes):  # byte-string defaults are base64 in JSON, as in the API
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot serialize {type(value).__name__}")


def render() -> str:
    return json.dumps(spec(), indent=2, sort_keys=True, default=_json_default) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
