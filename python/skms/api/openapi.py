"""The OpenAPI 3.1 document, generated from the app: ``python -m skms.api.openapi > api/openapi.json``."""

import json
import sys
from typing import Any

from skms.api.app import create_app
from skms.api.settings import Settings


def spec() -> dict[str, Any]:
    app = create_app(Settings(database_url="sqlite:///:memory:"))
    return app.openapi_schema.to_schema()


def render() -> str:
    return json.dumps(spec(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
