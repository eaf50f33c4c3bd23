"""SqliteTenantRegistry against a real SQLite file: tenants, keys, usage, versions, persistence."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import babelrag.control as control
from babelrag.control.errors import (
    InvalidArgument,
    InvalidKeyLabel,
    InvalidQuotas,
    InvalidTenantName,
    KeyNotFound,
    QuotaExceeded,
    RegistryError,
    TenantExists,
    TenantNotFound,
    TenantOffloaded,
    Unauthenticated,
)
from babelrag.control.registry import (
    Quotas,
    TenantRegistry,
    TenantState,
    Usage,
    format_api_key,
    parse_api_key,
    validate_tenant_name,
)
from babelrag.control.sqlite_registry import FILE_NAME, SCHEMA_VERSION, SqliteTenantRegistry


def test_public_names_are_pinned() -> None:
    assert sorted(control.__all__) == sorted(
        [
            "TenantRegistry", "SqliteTenantRegistry", "Tenant", "TenantState", "Quotas", "Usage", "ApiKey",
            "IssuedApiKey", "Principal", "validate_tenant_name", "RateLimiter", "InMemoryRateLimiter",
            "AdminCredential", "AdminKeyVerifier", "load_admin_credential", "ControlError", "InvalidArgument",
            "InvalidTenantName", "InvalidQuotas", "InvalidKeyLabel", "TenantError", "TenantNotFound",
            "TenantExists", "TenantOffloaded", "KeyNotFound", "Unauthenticated", "QuotaExceeded",
            "TenantStorageError", "AdminCredentialError", "RegistryError", "RegistryUnavailable", "grpc_status",
        ]
    )  # fmt: skip
    for name in control.__all__:
        assert getattr(control, name) is not None


def test_sqlite_registry_satisfies_the_protocol(registry: SqliteTenantRegistry) -> None:
    assert isinstance(registry, TenantRegistry)


# -- names -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["abc", "acme", "a1-b_2", "x" * 63, "t-0", "z__"])
def test_valid_tenant_names(name: str) -> None:
    assert validate_tenant_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "ab", "x" * 64, "Acme", "1abc", "-abc", "_abc", "ab c", "ab.c", "ab/c", "abc\n", "ümlaut", None, 42],
)
def test_invalid_tenant_names(registry: SqliteTenantRegistry, name: object) -> None:
    with pytest.raises(InvalidTenantName, match="3 to 63 characters"):
        validate_tenant_name(name)
    with pytest.raises(InvalidTenantName):
        registry.create_tenant(name)  # type: ignore[arg-type]
    assert registry.list_tenants() == []


# -- tenants ---------------------------------------------------------------------------------------------
def test_create_get_list_tenants(registry: SqliteTenantRegistry) -> None:
    before = datetime.now(timezone.utc)
    quotas = Quotas(requests_per_second=2.5, burst=5, max_chunks=100, max_bytes=10_000)
    created = registry.create_tenant("beta", quotas)
    registry.create_tenant("alpha")
    assert created.name == "beta"
    assert created.state is TenantState.ACTIVE
    assert created.quotas == quotas
    assert created.usage == Usage(0, 0, 0)
    assert before - timedelta(seconds=1) <= created.created_at <= datetime.now(timezone.utc) + timedelta(seconds=1)
    assert registry.get_tenant("beta") == created
    assert [t.name for t in registry.list_tenants()] == ["alpha", "beta"]
    assert registry.get_tenant("alpha").quotas == Quotas()


def test_duplicate_and_missing_tenants(registry: SqliteTenantRegistry) -> None:
    registry.create_tenant("acme")
    with pytest.raises(TenantExists, match="'acme' already exists"):
        registry.create_tenant("acme")
    for call in (
        lambda: registry.get_tenant("nope"),
        lambda: registry.delete_tenant("nope"),
        lambda: registry.set_state("nope", TenantState.OFFLOADED),
        lambda: registry.set_quotas("nope", Quotas()),
        lambda: registry.issue_key("nope"),
        lambda: registry.list_keys("nope"),
        lambda: registry.reserve_storage("nope", chunks=1, bytes=1),
        lambda: registry.adjust_usage("nope", delta_chunks=-1),
        lambda: registry.bump_data_version("nope"),
        lambda: registry.data_version("nope"),
    ):
        with pytest.raises(TenantNotFound, match="'nope' does not exist"):
            call()


def test_set_state_and_quotas(registry: SqliteTenantRegistry) -> None:
    registry.create_tenant("acme")
    assert registry.set_state("acme", TenantState.OFFLOADED).state is TenantState.OFFLOADED
    assert registry.get_tenant("acme").state is TenantState.OFFLOADED
    assert registry.set_state("acme", TenantState.ACTIVE).state is TenantState.ACTIVE
    new = Quotas(requests_per_second=1, burst=0, max_chunks=7, max_bytes=0)
    assert registry.set_quotas("acme", new).quotas == new
    with pytest.raises(InvalidArgument):
        registry.set_state("acme", "offloaded")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"requests_per_second": -1},
        {"requests_per_second": float("nan")},
        {"requests_per_second": float("inf")},
        {"burst": -1},
        {"burst": 2**31},
        {"max_chunks": -5},
        {"max_bytes": 2**63},
        {"max_chunks": 1.5},
        {"burst": True},
    ],
)
def test_invalid_quotas(kwargs: dict) -> None:
    with pytest.raises(InvalidQuotas):
        Quotas(**kwargs)


def test_bucket_size_defaults_to_one_second_of_rate() -> None:
    assert Quotas(requests_per_second=2.5).bucket_size == 3
    assert Quotas(requests_per_second=0.1).bucket_size == 1
    assert Quotas(requests_per_second=2.5, burst=10).bucket_size == 10
    assert not Quotas(burst=10).rate_limited


# -- API keys --------------------------------------------------------------------------------------------
def test_issue_and_authenticate(registry: SqliteTenantRegistry) -> None:
    quotas = Quotas(requests_per_second=3, burst=6)
    registry.create_tenant("acme", quotas)
    issued = registry.issue_key("acme", "ci pipeline")
    key_id, secret = parse_api_key(issued.api_key)
    assert issued.api_key == f"brk_{issued.key.key_id}_{secret}"
    assert key_id == issued.key.key_id and len(key_id) == 12
    assert len(secret) >= 43  # 32 random bytes, base64url
    assert issued.key.tenant == "acme" and issued.key.label == "ci pipeline" and not issued.key.revoked
    assert issued.api_key not in repr(issued)

    principal = registry.authenticate(issued.api_key)
    assert (principal.tenant, principal.key_id) == ("acme", key_id)
    assert principal.state is TenantState.ACTIVE and principal.quotas == quotas

    other = registry.issue_key("acme")
    assert other.key.key_id != key_id and other.api_key != issued.api_key
    assert registry.authenticate(other.api_key).key_id == other.key.key_id


def test_authenticate_refuses_bad_keys_without_saying_why(registry: SqliteTenantRegistry) -> None:
    registry.create_tenant("acme")
    issued = registry.issue_key("acme")
    key_id, secret = parse_api_key(issued.api_key)
    wrong_secret = format_api_key(key_id, ("A" if secret[0] != "A" else "B") + secret[1:])
    unknown_id = format_api_key("zzzzzzzzzzzz" if key_id != "zzzzzzzzzzzz" else "yyyyyyyyyyyy", secret)
    candidates = [
        "",
        "garbage",
        issued.api_key + "x",
        issued.api_key[:-1],
        "brk_" + key_id,
        issued.api_key.replace("brk_", "bra_", 1),
        wrong_secret,
        unknown_id,
        None,
    ]
    messages = set()
    for raw in candidates:
        with pytest.raises(Unauthenticated) as info:
            registry.authenticate(raw)  # type: ignore[arg-type]
        messages.add(str(info.value))
    registry.revoke_key(key_id)
    with pytest.raises(Unauthenticated) as info:
        registry.authenticate(issued.api_key)
    messages.add(str(info.value))
    assert len(messages) == 1  # malformed, unknown, wrong secret and revoked all read the same


def test_revoke_and_list_keys(registry: SqliteTenantRegistry) -> None:
    registry.create_tenant("acme")
    registry.create_tenant("other")
    first = registry.issue_key("acme", "one")
    second = registry.issue_key("acme", "two")
    registry.issue_key("other", "elsewhere")

    revoked = registry.revoke_key(first.key.key_id)
    assert revoked.revoked and revoked.revoked_at is not None and revoked.tenant == "acme"
    again = registry.revoke_key(first.key.key_id)  # idempotent, keeps its first revocation time
    assert again.revoked_at == revoked.revoked_at

    with pytest.raises(Unauthenticated):
        registry.authenticate(first.api_key)
    assert registry.authenticate(second.api_key).tenant == "acme"

    keys = registry.list_keys("acme")
    assert [(k.key_id, k.label, k.revoked) for k in keys] == [
        (first.key.key_id, "one", True),
        (second.key.key_id, "two", False),
    ]
    assert all(not hasattr(k, "api_key") and not hasattr(k, "secret") for k in keys)
    assert registry.list_keys("other")[0].label == "elsewhere"

    with pytest.raises(KeyNotFound, match="does not exist"):
        registry.revoke_key("nosuchkey123")
    with pytest.raises(InvalidArgument):
        registry.revoke_key("")


@pytest.mark.parametrize("label", ["x" * 201, "two\nlines", "tab\there"])
def test_invalid_labels(registry: SqliteTenantRegistry, label: str) -> None:
    registry.create_tenant("acme")
    with pytest.raises(InvalidKeyLabel):
        registry.issue_key("acme", label)
    assert registry.list_keys("acme") == []


def test_secrets_are_stored_only_hashed(registry: SqliteTenantRegistry, data_dir: Path) -> None:
    registry.create_tenant("acme")
    issued = registry.issue_key("acme", "label-marker")
    key_id, secret = parse_api_key(issued.api_key)
    registry.close()  # checkpoints the WAL into the main file
    reopened = SqliteTenantRegistry.in_data_dir(data_dir)
    reopened.get_tenant("acme")  # and read through a live WAL connection too
    blob = b"".join(p.read_bytes() for p in sorted(data_dir.iterdir()) if p.is_file())
    # Positive controls: the public parts and the hash are in the file, so the search works.
    assert key_id.encode() in blob
    assert b"label-marker" in blob
    assert hashlib.sha256(secret.encode()).digest() in blob
    # The secret is not, in any form a careless implementation might use.
    assert secret.encode() not in blob
    assert issued.api_key.encode() not in blob
    assert secret[:16].encode() not in blob
    reopened.close()


def test_deleting_a_tenant_removes_its_keys(registry: SqliteTenantRegistry) -> None:
    registry.create_tenant("acme")
    live = registry.issue_key("acme")
    dead = registry.issue_key("acme")
    registry.revoke_key(dead.key.key_id)
    assert registry.delete_tenant("acme") == 1  # unrevoked keys only
    with pytest.raises(Unauthenticated):
        registry.authenticate(live.api_key)
    with pytest.raises(KeyNotFound):
        registry.revoke_key(live.key.key_id)
    # The same name can be registered again; the old keys do not come back.
    registry.create_tenant("acme")
    assert registry.list_keys("acme") == []
    with pytest.raises(Unauthenticated):
        registry.authenticate(live.api_key)


# -- usage accounting ---------------------------------------------------------------------------------------
def test_reserve_checks_quotas_and_changes_nothing_when_refused(registry: SqliteTenantRegistry) -> None:
    registry.create_tenant("acme", Quotas(max_chunks=10, max_bytes=1000))
    assert registry.reserve_storage("acme", chunks=6, bytes=600, documents=1) == Usage(6, 600, 1)
    with pytest.raises(QuotaExceeded) as info:
        registry.reserve_storage("acme", chunks=5, bytes=100, documents=1)
    assert info.value.resource == "chunks" and info.value.retry_after_s is None
    assert "11 chunks, over its quota of 10" in str(info.value)
    with pytest.raises(QuotaExceeded) as info:
        registry.reserve_storage("acme", chunks=1, bytes=401, documents=1)
    assert info.value.resource == "bytes"
    assert registry.get_tenant("acme").usage == Usage(6, 600, 1)  # refused calls changed nothing
    assert registry.reserve_storage("acme", chunks=4, bytes=400, documents=1) == Usage(10, 1000, 2)


def test_replacement_passes_a_net_delta(registry: SqliteTenantRegistry) -> None:
    registry.create_tenant("acme", Quotas(max_chunks=10, max_bytes=1000))
    registry.reserve_storage("acme", chunks=8, bytes=800, documents=1)
    # Re-ingest the document: 8 chunks/800 bytes become 10 chunks/700 bytes. Net +2 chunks, -100 bytes.
    assert registry.reserve_storage("acme", chunks=2, bytes=-100) == Usage(10, 700, 1)
    # A shrinking replacement is accepted even over a lowered quota.
    registry.set_quotas("acme", Quotas(max_chunks=5, max_bytes=1000))
    assert registry.reserve_storage("acme", chunks=-2, bytes=-50) == Usage(8, 650, 1)
    with pytest.raises(QuotaExceeded):
        registry.reserve_storage("acme", chunks=1, bytes=-10)  # still over: may not grow


def test_release_adjust_and_set_usage(registry: SqliteTenantRegistry) -> None:
    registry.create_tenant("acme")  # unlimited
    registry.reserve_storage("acme", chunks=100, bytes=10_000, documents=3)
    # The write failed: undo exactly.
    assert registry.release_storage("acme", chunks=100, bytes=10_000, documents=3) == Usage(0, 0, 0)
    registry.reserve_storage("acme", chunks=10, bytes=100, documents=2)
    assert registry.adjust_usage("acme", delta_chunks=-4, delta_bytes=-40, delta_documents=-1) == Usage(6, 60, 1)
    # Drift never makes usage negative.
    assert registry.adjust_usage("acme", delta_chunks=-50, delta_bytes=-5, delta_documents=-9) == Usage(0, 55, 0)
    assert registry.set_usage("acme", Usage(3, 4, 5)) == Usage(3, 4, 5)
    assert registry.get_tenant("acme").usage == Usage(3, 4, 5)
    with pytest.raises(InvalidArgument):
        registry.set_usage("acme", Usage(-1, 0, 0))
    with pytest.raises(InvalidArgument):
        registry.reserve_storage("acme", chunks=1.5, bytes=0)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        registry.adjust_usage("acme", delta_bytes=2**64)


def test_offloaded_tenant_accepts_no_reservations(registry: SqliteTenantRegistry) -> None:
    registry.create_tenant("acme")
    registry.reserve_storage("acme", chunks=5, bytes=50, documents=1)
    registry.set_state("acme", TenantState.OFFLOADED)
    with pytest.raises(TenantOffloaded, match="offloaded"):
        registry.reserve_storage("acme", chunks=1, bytes=1)
    # Releasing a reservation made before the offload still works.
    assert registry.release_storage("acme", chunks=5, bytes=50, documents=1) == Usage(0, 0, 0)


def test_concurrent_reservations_never_exceed_the_quota(data_dir: Path) -> None:
    """8 threads over two registry instances (two "replicas" on one file) race past max_chunks."""
    # A generous busy timeout: on a loaded machine a writer may wait a while for the file lock.
    instances = [SqliteTenantRegistry.in_data_dir(data_dir, busy_timeout_s=60) for _ in range(2)]
    instances[0].create_tenant("acme", Quotas(max_chunks=50))
    granted = [0] * 8
    refused = [0] * 8
    unexpected: list[BaseException] = []
    start = threading.Barrier(8)

    def worker(i: int) -> None:
        reg = instances[i % 2]
        start.wait()
        for _ in range(15):
            try:
                reg.reserve_storage("acme", chunks=1, bytes=10)
                granted[i] += 1
            except QuotaExceeded:
                refused[i] += 1
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                unexpected.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert unexpected == []
        assert sum(granted) == 50
        assert sum(refused) == 8 * 15 - 50
        assert instances[1].get_tenant("acme").usage == Usage(chunks=50, bytes=500, documents=0)
    finally:
        for reg in instances:
            reg.close()


# -- data versions --------------------------------------------------------------------------------------------
def test_data_versions_increase_and_are_never_reused(registry: SqliteTenantRegistry) -> None:
    registry.create_tenant("acme")
    registry.create_tenant("other")
    v0 = registry.data_version("acme")
    v1 = registry.bump_data_version("acme")
    v2 = registry.bump_data_version("acme")
    assert v0 < v1 < v2 == registry.data_version("acme")
    assert registry.get_tenant("acme").data_version == v2
    other = registry.data_version("other")
    registry.bump_data_version("other")
    assert registry.data_version("acme") == v2  # per tenant
    registry.delete_tenant("acme")
    registry.create_tenant("acme")
    assert registry.data_version("acme") > v2  # a re-created tenant cannot hit the old cache entries
    assert registry.data_version("other") > other


# -- persistence and migrations ----------------------------------------------------------------------------------
def test_everything_survives_a_reopen(data_dir: Path) -> None:
    with SqliteTenantRegistry.in_data_dir(data_dir) as reg:
        reg.create_tenant("acme", Quotas(requests_per_second=1, burst=2, max_chunks=10, max_bytes=20))
        issued = reg.issue_key("acme", "persist")
        revoked = reg.issue_key("acme")
        reg.revoke_key(revoked.key.key_id)
        reg.reserve_storage("acme", chunks=3, bytes=4, documents=1)
        reg.set_state("acme", TenantState.OFFLOADED)
        version = reg.bump_data_version("acme")
        before = reg.get_tenant("acme")
    assert (data_dir / FILE_NAME).is_file()
    with SqliteTenantRegistry.in_data_dir(data_dir) as reg:
        assert reg.get_tenant("acme") == before
        assert reg.data_version("acme") == version
        assert reg.authenticate(issued.api_key).tenant == "acme"
        with pytest.raises(Unauthenticated):
            reg.authenticate(revoked.api_key)
        assert [k.revoked for k in reg.list_keys("acme")] == [False, True]
        assert reg.bump_data_version("acme") > version


def test_migrations_are_idempotent_and_set_up_wal(data_dir: Path) -> None:
    for _ in range(3):
        with SqliteTenantRegistry.in_data_dir(data_dir) as reg:
            assert reg.schema_versions() == list(range(1, SCHEMA_VERSION + 1))
    conn = sqlite3.connect(data_dir / FILE_NAME)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"tenants", "api_keys", "counters", "schema_migrations"} <= tables
    finally:
        conn.close()


def test_a_newer_schema_is_refused(data_dir: Path) -> None:
    SqliteTenantRegistry.in_data_dir(data_dir).close()
    conn = sqlite3.connect(data_dir / FILE_NAME)
    with conn:
        conn.execute("INSERT INTO schema_migrations VALUES (?, 'from the future', 0)", (SCHEMA_VERSION + 1,))
    conn.close()
    with pytest.raises(RegistryError, match="newer than this BabelRAG"):
        SqliteTenantRegistry.in_data_dir(data_dir)


def test_foreign_keys_are_enforced(registry: SqliteTenantRegistry) -> None:
    conn = registry._conn  # white-box: the connection the registry uses
    assert conn is not None
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_closed_registry_raises_a_control_error(data_dir: Path) -> None:
    reg = SqliteTenantRegistry.in_data_dir(data_dir)
    reg.close()
    reg.close()  # idempotent
    with pytest.raises(RegistryError, match="closed"):
        reg.list_tenants()
