"""The examples against the real gateway; the SaaS backend keeps customers apart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from babelrag_client import TextDocument
from tests.client.conftest import SUBPROCESS_ENV_PATH
from tests.client.test_examples import EXAMPLES, load_example

pytestmark = pytest.mark.slow


def test_saas_backend_two_customers_are_isolated(gateway) -> None:  # noqa: ANN001
    module = load_example("saas_backend")
    with module.SaaSBackend(gateway.address, admin_key=gateway.admin_key) as backend:
        try:
            backend.onboard(f"acme-{os.getpid()}")
            backend.onboard(f"globex-{os.getpid()}")
            acme, globex = f"acme-{os.getpid()}", f"globex-{os.getpid()}"
            assert backend.upload(acme, TextDocument("Acme's code word is aubergine.", document_id="plan")).ok
            assert backend.upload(globex, TextDocument("Globex hides gold by the lighthouse.", document_id="plan")).ok
            assert backend.search(acme, "aubergine", mode="keyword") == ["plan"]
            assert backend.search(acme, "lighthouse", mode="keyword") == []
            assert backend.search(globex, "lighthouse", mode="keyword") == ["plan"]
            assert backend.search(globex, "aubergine", mode="keyword") == []
            reply = backend.ask(acme, "What is the code word?")
            assert set(reply) == {"answer", "language", "sources"}
            assert all(s["document_id"] == "plan" for s in reply["sources"])
            assert backend.documents(acme) == ["plan"] and backend.documents(globex) == ["plan"]
        finally:
            backend.offboard(f"acme-{os.getpid()}")
            backend.offboard(f"globex-{os.getpid()}")


def test_saas_backend_script(gateway) -> None:  # noqa: ANN001
    env = {k: v for k, v in os.environ.items() if not k.startswith("BABELRAG_")}
    env.update(PYTHONPATH=SUBPROCESS_ENV_PATH, BABELRAG_ADMIN_KEY=gateway.admin_key)
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "saas_backend.py"), "--url", gateway.address],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["isolated"] is True and len(summary["customers"]) == 2
    for customer in summary["customers"].values():
        assert customer["finds_own_document"] and not customer["finds_other_customers_document"]
        assert customer["documents"] == ["plan"]


def test_image_question_and_bulk_ingest(gateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    key = gateway.create_tenant(f"examples-{os.getpid()}")
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "note.md").write_text(f"# Note {name}\n\nThe {name} note mentions the wibblethorp.")
    bulk = load_example("async_bulk_ingest")
    assert bulk.main([str(tmp_path / "one"), str(tmp_path / "two"), "--url", gateway.address, "--api-key", key]) == 0
    photo = tmp_path / "photo.png"
    Image.new("RGB", (32, 32), (10, 200, 10)).save(photo)
    question = load_example("image_question")
    assert question.main([str(photo), "What is this?", "--store", "a green tile", "--url", gateway.address, "--api-key", key]) == 0
    out = capsys.readouterr().out
    assert "1/1 stored" in out and "[" in out
