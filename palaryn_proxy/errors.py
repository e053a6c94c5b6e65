"""The one exception tree of the engine.

PalarynError
 ├── ConfigError      a config file or value is wrong (names the key and the fix)
 ├── StorageError     a storage backend failed (Redis down, SQLite locked); callers pick fail open/closed
 └── AuditError       the audit log could not be written or does not verify
"""


class PalarynError(Exception):
    """Base class of every error the engine raises on purpose."""


class ConfigError(PalarynError):
    pass


class StorageError(PalarynError):
    pass


class AuditError(PalarynError):
    pass
