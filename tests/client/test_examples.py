"""The examples run (against the scripted server here; against the real gateway in
test_integration_examples.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image

from tests.client.fakeserver import ADMIN_KEY, API_KEY, FakeServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_image_question(fake: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo = tmp_path / "photo.png"
    Image.new("RGB", (8, 8), "yellow").save(photo)
    code = load_example("image_question").main(
        [str(photo), "What is this?", "--store", "a yellow square", "--url", fake.address, "--api-key", API_KEY]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("Paris is the capital [1].\n") and "[1] Doc one (text)" in out
    assert fake.backend.received[0].header.caption == "a yellow square"
    assert fake.backend.requests["Ask"][0].images[0] == photo.read_bytes()


def test_async_bulk_ingest(fake: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("a", "b", "c"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "doc.txt").write_text(f"document {name}")
    (tmp_path / "c" / "bad.txt").write_text("BROKEN")
    module = load_example("async_bulk_ingest")
    code = module.main([str(tmp_path / n) for n in "abc"] + ["--concurrency", "2", "--url", fake.address, "--api-key", API_KEY])
    out = capsys.readouterr().out
    assert code == 7  # one item failed
    assert f"{tmp_path / 'a'}: 1/1 stored" in out and f"{tmp_path / 'c'}: 1/2 stored" in out
    assert len(fake.backend.calls_of("Ingest")) == 3


def test_saas_helpers() -> None:
    module = load_example("saas_backend")
    assert module.tenant_name("ACME Corp.") == "cust-acme-corp"
    from babelrag_client import NotFoundError, QuotaExceededError

    assert module.http_status_for(QuotaExceededError("x")) == 429
    assert module.http_status_for(NotFoundError("x")) == 404


def test_saas_key_store(tmp_path: Path) -> None:
    module = load_example("saas_backend")
    path = tmp_path / "keys.json"
    store = module.KeyStore(path)
    store.put("acme", "brk_a")
    assert module.KeyStore(path).get("acme") == "brk_a"
    assert (path.stat().st_mode & 0o777) == 0o600
    store.forget("acme")
    assert module.KeyStore(path).get("acme") is None


def test_saas_backend_flow_against_fake(fake: FakeServer) -> None:
    module = load_example("saas_backend")
    with module.SaaSBackend(fake.address, admin_key=ADMIN_KEY) as backend:
        name = backend.onboard("acme")
        assert name == "cust-acme" and backend.onboard("acme") == name  # idempotent
        assert fake.backend.tenants[name].quotas.burst == module.PLANS["free"].burst
        backend.change_plan("acme", "pro")
        assert fake.backend.tenants[name].quotas.burst == module.PLANS["pro"].burst
        backend.offboard("acme")
        assert name not in fake.backend.tenants
