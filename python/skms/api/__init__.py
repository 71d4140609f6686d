"""The REST API (Litestar + msgspec). Build the app with :func:`create_app`."""

from skms.api.app import create_app
from skms.api.settings import Settings, load_settings

__all__ = ["Settings", "create_app", "load_settings"]
