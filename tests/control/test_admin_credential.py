"""The admin credential: generated once into <data>/admin.key (0600), or taken from the environment."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from babelrag.control.admin_credential import (
    ENV_VAR,
    FILE_NAME,
    AdminCredential,
    AdminKeyVerifier,
    load_admin_credential,
)
from babelrag.control.errors import AdminCredentialError

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


@posix_only
def test_generated_on_first_start_with_mode_0600(data_dir: Path) -> None:
    cred = load_admin_credential(data_dir, environ={})
    path = data_dir / FILE_NAME
    assert cred.source == "generated" and cred.path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_text().strip()
    assert key.startswith("bra_") and len(key) >= 40
    assert cred.verify(key)
    assert not cred.verify(key[:-1]) and not cred.verify(key + "x") and not cred.verify("")
    assert not cred.verify(None)
    assert key not in repr(cred)
    assert isinstance(cred, AdminKeyVerifier)
    assert not any(p.name.endswith(".tmp") for p in data_dir.iterdir())  # no temporary file left


def test_the_same_key_is_used_after_a_restart(data_dir: Path) -> None:
    load_admin_credential(data_dir, environ={})
    key = (data_dir / FILE_NAME).read_text().strip()
    again = load_admin_credential(data_dir, environ={})
    assert again.source == "file"
    assert again.verify(key)
    assert (data_dir / FILE_NAME).read_text().strip() == key  # not regenerated


def test_environment_variable_wins(data_dir: Path) -> None:
    load_admin_credential(data_dir, environ={})
    file_key = (data_dir / FILE_NAME).read_text().strip()
    env_key = "an-admin-key-from-a-secret-store"
    cred = load_admin_credential(data_dir, environ={ENV_VAR: env_key})
    assert cred.source == "environment"
    assert cred.verify(env_key)
    assert not cred.verify(file_key)


def test_environment_variable_needs_no_file(data_dir: Path) -> None:
    cred = load_admin_credential(data_dir, environ={ENV_VAR: "x" * 32})
    assert cred.verify("x" * 32)
    assert not (data_dir / FILE_NAME).exists()


@pytest.mark.parametrize("bad", ["short", " padded-admin-key-value ", "line\nbreak-in-admin-key"])
def test_weak_or_odd_environment_keys_are_refused(data_dir: Path, bad: str) -> None:
    with pytest.raises(AdminCredentialError):
        load_admin_credential(data_dir, environ={ENV_VAR: bad})


@posix_only
def test_a_key_file_readable_by_others_is_refused(data_dir: Path) -> None:
    load_admin_credential(data_dir, environ={})
    path = data_dir / FILE_NAME
    path.chmod(0o644)
    with pytest.raises(AdminCredentialError, match="chmod 600"):
        load_admin_credential(data_dir, environ={})


@posix_only
def test_an_empty_key_file_is_refused(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    path = data_dir / FILE_NAME
    path.write_text("\n")
    path.chmod(0o600)
    with pytest.raises(AdminCredentialError, match="empty"):
        load_admin_credential(data_dir, environ={})


def test_two_generated_keys_differ(tmp_path: Path) -> None:
    assert AdminCredential.generate_key() != AdminCredential.generate_key()
    a = load_admin_credential(tmp_path / "a", environ={})
    b = load_admin_credential(tmp_path / "b", environ={})
    key_a = (tmp_path / "a" / FILE_NAME).read_text().strip()
    assert a.verify(key_a) and not b.verify(key_a)


def test_concurrent_first_starts_agree_on_one_key(data_dir: Path) -> None:
    import threading

    creds: list[AdminCredential] = []
    start = threading.Barrier(6)

    def worker() -> None:
        start.wait()
        creds.append(load_admin_credential(data_dir, environ={}))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    key = (data_dir / FILE_NAME).read_text().strip()
    assert len(creds) == 6 and all(c.verify(key) for c in creds)
    assert [c.source for c in creds].count("generated") == 1
