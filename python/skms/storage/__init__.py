"""Storage: one :class:`KeyStore` interface, SQLite (default) and PostgreSQL backends."""

from skms.errors import InvalidInput
from skms.storage.base import KeyFilter, KeyRecord, KeyStore, SealRecord, VersionRecord


def open_store(url: str) -> KeyStore:
    """A store for ``sqlite:///path/to/file.db`` or ``postgresql://user@host/db`` (not yet opened)."""
    if url.startswith("sqlite:///"):
        from skms.storage.sqlite import SqliteStore

        return SqliteStore(url[len("sqlite:///") :])
    if url.startswith(("postgresql://", "postgres://")):
        from skms.storage.postgres import PostgresStore

        return PostgresStore(url)
    raise InvalidInput(f"unsupported store URL {url.split(':', 1)[0]!r}: use sqlite:///path or postgresql://…")


__all__ = ["KeyFilter", "KeyRecord", "KeyStore", "SealRecord", "VersionRecord", "open_store"]
