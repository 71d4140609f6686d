"""Versioned schema migrations, shared by both backends.

Each migration is a list of statements; ``{blob}`` becomes BLOB (SQLite) or BYTEA
(PostgreSQL) and ``{float}`` REAL or DOUBLE PRECISION. Migrations only add: a
deployed schema is never rewritten in place.
"""

MIGRATIONS: list[list[str]] = [
    # 1: seal record, keys, versions.
    [
        """CREATE TABLE seal (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            generation INTEGER NOT NULL,
            method TEXT NOT NULL,
            params TEXT NOT NULL,
            wrapped_root {blob} NOT NULL,
            root_id INTEGER NOT NULL,
            updated_at {float} NOT NULL
        )""",
        """CREATE TABLE keys (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            name TEXT NOT NULL,
            type TEXT NOT NULL,
            purpose TEXT NOT NULL,
            labels TEXT NOT NULL,
            policy TEXT NOT NULL,
            state TEXT NOT NULL,
            latest_version INTEGER NOT NULL,
            min_version INTEGER NOT NULL,
            created_at {float} NOT NULL,
            updated_at {float} NOT NULL,
            wrapped_dek {blob} NOT NULL,
            root_id INTEGER NOT NULL,
            next_rotation_at {float},
            deletion_at {float},
            destroyed_at {float},
            row_version INTEGER NOT NULL,
            meta TEXT NOT NULL,
            UNIQUE (tenant, name)
        )""",
        """CREATE TABLE key_versions (
            key_id TEXT NOT NULL REFERENCES keys (id),
            version INTEGER NOT NULL,
            created_at {float} NOT NULL,
            state TEXT NOT NULL,
            material {blob},
            public_key {blob},
            expires_at {float},
            PRIMARY KEY (key_id, version)
        )""",
        "CREATE INDEX keys_next_rotation ON keys (next_rotation_at)",
        "CREATE INDEX keys_deletion ON keys (deletion_at)",
    ],
    # 2: BYOK import tokens (the wrapping key a caller used, and until when it may be used).
    [
        """CREATE TABLE import_tokens (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            wrapping_key_id TEXT NOT NULL REFERENCES keys (id),
            algorithm TEXT NOT NULL,
            expires_at {float} NOT NULL
        )""",
        "CREATE INDEX keys_tenant_type ON keys (tenant, type)",
    ],
    # 3: API keys (the secret is stored only as a keyed hash).
    [
        """CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            principal TEXT NOT NULL,
            secret_hash {blob} NOT NULL,
            roles TEXT NOT NULL,
            description TEXT NOT NULL,
            created_at {float} NOT NULL,
            expires_at {float},
            revoked_at {float}
        )""",
        "CREATE INDEX api_keys_tenant ON api_keys (tenant)",
    ],
    # 4: authorization: custom policies and what each principal is bound to.
    [
        """CREATE TABLE authz_policies (
            tenant TEXT NOT NULL,
            name TEXT NOT NULL,
            document TEXT NOT NULL,
            updated_at {float} NOT NULL,
            PRIMARY KEY (tenant, name)
        )""",
        """CREATE TABLE authz_bindings (
            tenant TEXT NOT NULL,
            principal TEXT NOT NULL,
            roles TEXT NOT NULL,
            policies TEXT NOT NULL,
            updated_at {float} NOT NULL,
            PRIMARY KEY (tenant, principal)
        )""",
    ],
    # 5: the audit log (skms.audit): hash-chained records, one chain per writer, and signed checkpoints.
    [
        """CREATE TABLE audit_records (
            chain_id TEXT NOT NULL,
            seq BIGINT NOT NULL,
            time {float} NOT NULL,
            tenant TEXT NOT NULL,
            principal TEXT NOT NULL,
            action TEXT NOT NULL,
            resource TEXT NOT NULL,
            result TEXT NOT NULL,
            event TEXT NOT NULL,
            hash {blob} NOT NULL,
            mac {blob} NOT NULL,
            mac_version INTEGER NOT NULL,
            PRIMARY KEY (chain_id, seq)
        )""",
        "CREATE INDEX audit_records_time ON audit_records (time, chain_id, seq)",
        "CREATE INDEX audit_records_tenant_time ON audit_records (tenant, time)",
        """CREATE TABLE audit_checkpoints (
            chain_id TEXT NOT NULL,
            seq BIGINT NOT NULL,
            time {float} NOT NULL,
            hash {blob} NOT NULL,
            mac {blob} NOT NULL,
            key_version INTEGER NOT NULL,
            signature {blob} NOT NULL,
            PRIMARY KEY (chain_id, seq)
        )""",
    ],
    # 6: backup recipients: the only public keys backup bundles may be encrypted for (issue 13).
    [
        """CREATE TABLE backup_recipients (
            tenant TEXT NOT NULL,
            name TEXT NOT NULL,
            public_key {blob} NOT NULL,
            fingerprint TEXT NOT NULL,
            created_at {float} NOT NULL,
            created_by TEXT NOT NULL,
            PRIMARY KEY (tenant, name)
        )""",
    ],
    # 7: each checkpoint names the previous checkpoint of its chain (signed), so that deleting one
    # alone is detected; NULL for checkpoints written before (issue 13, defect 7).
    ["ALTER TABLE audit_checkpoints ADD COLUMN prev_seq BIGINT"],
]

LATEST = len(MIGRATIONS)


def statements(version: int, blob: str, float_type: str) -> list[str]:
    """The statements of migration ``version`` (1-based) for a dialect."""
    return [s.format(blob=blob, float=float_type) for s in MIGRATIONS[version - 1]]
