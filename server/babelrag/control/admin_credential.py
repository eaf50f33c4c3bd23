"""The admin credential: the one secret that may call the AdminService.

Where it comes from, in order:

1. ``$BABELRAG_ADMIN_KEY``, when set and non-empty (container deployments
   inject it from a secret store). It must be at least
   :data:`MIN_ADMIN_KEY_CHARS` characters long.
2. ``<data>/admin.key``, when it exists. It must be readable by its owner
   only (mode 0600), like an SSH private key; anything looser is refused
   rather than silently used.
3. Otherwise a new random key (32 bytes, url-safe) is generated and written
   to ``<data>/admin.key`` with mode 0600. The operator reads it from there;
   it is never logged. Two processes starting at once on a fresh data
   directory agree on one key: the file is written under a temporary name and
   hard-linked into place, which fails for the second writer, who then reads
   the winner's key.

The process keeps only SHA-256 of the key, and :meth:`AdminCredential.verify`
compares digests with :func:`hmac.compare_digest`: constant time, and digests
of equal length, so neither the content nor the length of the real key leaks
through timing.

The admin key is not an API key: it has a different format (``bra_...``),
and the registry of tenant keys never sees it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from babelrag.control.errors import AdminCredentialError

__all__ = [
    "AdminCredential",
    "AdminKeyVerifier",
    "load_admin_credential",
    "ENV_VAR",
    "FILE_NAME",
    "MIN_ADMIN_KEY_CHARS",
]

log = logging.getLogger("babelrag.control")

ENV_VAR = "BABELRAG_ADMIN_KEY"
FILE_NAME = "admin.key"
MIN_ADMIN_KEY_CHARS = 16
_PREFIX = "bra_"
_SECRET_BYTES = 32


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


@runtime_checkable
class AdminKeyVerifier(Protocol):
    """What the admin service needs: a yes/no on a presented key, in constant time."""

    def verify(self, presented: str | None) -> bool: ...


class AdminCredential:
    """Verifies the admin key; holds only its SHA-256 digest.

    ``source`` says where the key came from: ``"environment"``, ``"file"`` or
    ``"generated"`` (a new key was written to ``path``; tell the operator where).
    """

    __slots__ = ("_digest", "source", "path")

    def __init__(self, key: str, *, source: str = "explicit", path: Path | None = None) -> None:
        if not isinstance(key, str) or len(key) < MIN_ADMIN_KEY_CHARS:
            raise AdminCredentialError(f"the admin key must be a string of at least {MIN_ADMIN_KEY_CHARS} characters")
        if key != key.strip() or any(not ch.isprintable() for ch in key):
            raise AdminCredentialError("the admin key may not contain whitespace at its ends or control characters")
        self._digest = _digest(key)
        self.source = source
        self.path = path

    @staticmethod
    def generate_key() -> str:
        """A new random admin key: ``bra_`` and 32 random bytes, url-safe base64."""
        return _PREFIX + secrets.token_urlsafe(_SECRET_BYTES)

    def verify(self, presented: str | None) -> bool:
        """True if ``presented`` is the admin key. Constant time in the key's content and length."""
        candidate = presented if isinstance(presented, str) else ""
        # Always hash and compare, also for a missing key, so every refusal costs the same.
        return hmac.compare_digest(_digest(candidate), self._digest) and bool(candidate)

    def __repr__(self) -> str:
        return f"AdminCredential(source={self.source!r}, path={str(self.path) if self.path else None!r})"


def load_admin_credential(
    data_dir: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
) -> AdminCredential:
    """The admin credential of a data directory: from ``$BABELRAG_ADMIN_KEY``, else ``<data>/admin.key``,
    else a newly generated key written there. Raises AdminCredentialError when the one found is unusable."""
    env = os.environ if environ is None else environ
    from_env = env.get(ENV_VAR, "")
    if from_env:
        return AdminCredential(from_env, source="environment")
    path = Path(data_dir) / FILE_NAME
    if path.exists():
        return AdminCredential(_read_key_file(path), source="file", path=path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = AdminCredential.generate_key()
    if _publish_key_file(path, key):
        log.warning("generated a new admin key in %s (mode 0600); use it as 'authorization: Bearer <key>'", path)
        return AdminCredential(key, source="generated", path=path)
    # Another process created the file first: use its key.
    return AdminCredential(_read_key_file(path), source="file", path=path)


def _read_key_file(path: Path) -> str:
    try:
        info = path.stat()
        if os.name == "posix" and stat.S_IMODE(info.st_mode) & 0o077:
            raise AdminCredentialError(
                f"{path} is accessible to other users (mode {stat.S_IMODE(info.st_mode):04o}); "
                f"run 'chmod 600 {path}' or delete it to generate a new key"
            )
        key = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise AdminCredentialError(f"cannot read the admin key file {path}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise AdminCredentialError(f"the admin key file {path} is not UTF-8 text") from exc
    if not key:
        raise AdminCredentialError(f"the admin key file {path} is empty; delete it to generate a new key")
    return key


def _publish_key_file(path: Path, key: str) -> bool:
    """Write ``key`` to ``path`` (mode 0600) unless it exists; False if another writer got there first."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, (key + "\n").encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic, and fails if the name exists
        except FileExistsError:
            return False
        except OSError:
            # A file system without hard links: exclusive create is still race-free for the
            # name, though a concurrent reader might briefly see an empty file.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return False
            try:
                os.write(fd, (key + "\n").encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(path.parent)
        return True
    except OSError as exc:
        raise AdminCredentialError(f"cannot write the admin key file {path}: {exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
