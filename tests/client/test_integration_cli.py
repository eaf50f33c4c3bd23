"""``babelrag`` as a person uses it, against the real gateway: subprocess runs, output, exit codes."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.client.conftest import SUBPROCESS_ENV_PATH
from tests.client.test_integration_sdk import make_kb

pytestmark = pytest.mark.slow

_names = itertools.count()


class Babelrag:
    """Runs ``python -m babelrag_client.cli`` with the gateway's address in the environment."""

    def __init__(self, gateway, api_key: str | None = None) -> None:  # noqa: ANN001
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BABELRAG_")}
        self.env.update(PYTHONPATH=SUBPROCESS_ENV_PATH, BABELRAG_URL=gateway.address, BABELRAG_ADMIN_KEY=gateway.admin_key)
        if api_key:
            self.env["BABELRAG_API_KEY"] = api_key

    def __call__(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "babelrag_client.cli", *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def json(self, *args: str) -> tuple[int, dict]:
        done = self("--json", *args)
        return done.returncode, json.loads(done.stdout)


@pytest.fixture(scope="module")
def admin(gateway) -> Babelrag:  # noqa: ANN001
    return Babelrag(gateway)


@pytest.fixture(scope="module")
def tenant(admin: Babelrag, gateway, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Babelrag]:  # noqa: ANN001
    """A tenant created with the CLI, its knowledge base ingested with the CLI."""
    name = f"cli-{os.getpid()}-{next(_names)}"
    code, created = admin.json("admin", "tenants", "create", name, "--key-label", "cli", "--rps", "50", "--burst", "100")
    assert code == 0, created
    assert created["tenant"]["name"] == name and created["tenant"]["state"] == "active"
    assert created["api_key"].startswith("brk_") and created["key"]["label"] == "cli"
    user = Babelrag(gateway, created["api_key"])
    done = user("ingest", str(make_kb(tmp_path_factory.mktemp("cli-kb"))), "--tag", "kb")
    assert done.returncode == 7, done.stderr  # the broken PDF
    assert "Ingested 4 of 5 items" in done.stdout and "2 skipped, 1 errors" in done.stdout
    assert "broken.pdf" in done.stderr and "INVALID_ARGUMENT" in done.stderr
    return name, user


def test_ingest_json_shape(tenant: tuple[str, Babelrag], tmp_path: Path) -> None:
    _, user = tenant
    note = tmp_path / "extra.md"
    note.write_text("# Extra\n\nThe plumbus is cleaned with fleeb juice.")
    code, data = user.json("ingest", str(note), "--language", "en")
    assert code == 0
    assert {k: data[k] for k in ("files", "stored", "failed", "errors", "skipped")} == {
        "files": 1, "stored": 1, "failed": 0, "errors": [], "skipped": [],
    }  # fmt: skip
    assert data["chunks"] >= 1 and data["results"][0]["document_id"] == "extra.md"
    assert data["results"][0]["language"] == "en"


def test_search(tenant: tuple[str, Babelrag]) -> None:
    _, user = tenant
    done = user("search", "zorblax", "--top-k", "3")
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.lstrip().startswith("1.") and "kb/guides/zorblax.md" in first
    code, data = user.json("search", "zorblax", "--filter", "tag=kb", "--mode", "keyword")
    assert code == 0 and data["hits"][0]["document_id"] == "kb/guides/zorblax.md"
    assert set(data["hits"][0]) >= {"chunk_id", "document_id", "score", "snippet", "source", "modality", "language"}


def test_ask_streams_then_prints_sources(tenant: tuple[str, Babelrag], tmp_path: Path) -> None:
    _, user = tenant
    done = user("ask", "How often must the zorblax engine be oiled?", "--max-tokens", "16")
    assert done.returncode == 0, done.stderr
    assert "Sources" in done.stdout and "kb/guides/zorblax.md" in done.stdout
    assert done.stderr == ""
    code, data = user.json("ask", "Where does the glimmerfish live?", "--lang", "de", "--top-k", "3", "--max-tokens", "16")
    assert code == 0 and data["answer_language"] == "de"
    assert set(data) >= {"text", "citations", "context", "finish_reason", "model"}
    assert any(c["document_id"] == "kb/facts.txt" for c in data["context"])


def test_ask_with_an_image(tenant: tuple[str, Babelrag], tmp_path: Path) -> None:
    from PIL import Image

    _, user = tenant
    photo = tmp_path / "q.jpg"
    Image.new("RGB", (32, 32), (200, 30, 30)).save(photo)
    code, data = user.json("ask", "What is this red thing?", "--image", str(photo), "--max-tokens", "8")
    assert code == 0 and data["finish_reason"]
    code, found = user.json("search", "--image", str(photo), "--filter", "modality=image")
    assert code == 0 and found["hits"][0]["document_id"] == "kb/red-square.png"


def test_docs(tenant: tuple[str, Babelrag]) -> None:
    _, user = tenant
    code, data = user.json("docs", "list")
    assert code == 0 and "kb/guides/zorblax.md" in {d["document_id"] for d in data["documents"]}
    assert all(d["language"] and d["created_at"] for d in data["documents"])
    done = user("docs", "list")
    assert done.returncode == 0 and "kb/facts.txt" in done.stdout and "LANG" in done.stdout
    done = user("docs", "delete", "kb/page.html")
    assert done.returncode == 0 and "Deleted kb/page.html" in done.stdout
    done = user("docs", "delete", "kb/page.html")
    assert done.returncode == 4 and done.stderr.startswith("babelrag: error:") and done.stderr.count("\n") == 1


def test_errors_and_exit_codes(tenant: tuple[str, Babelrag], gateway) -> None:  # noqa: ANN001
    name, user = tenant
    wrong = Babelrag(gateway, "brk_nosuchkey0_" + "x" * 40)
    done = wrong("search", "x")
    assert done.returncode == 3 and done.stdout == "" and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    missing = Babelrag(gateway)
    done = missing("search", "x")
    assert done.returncode == 3 and "--api-key" in done.stderr
    done = user("search", "x", "--filter", "colour=red")
    assert done.returncode == 2 and "colour" in done.stderr
    code, data = user.json("search", "x", "--filter", "colour=red")
    assert code == 2 and data["error"]["type"] == "InvalidRequestError" and data["error"]["code"] == "INVALID_ARGUMENT"
    done = user("ask", "q", "--timeout", "0.005")
    assert done.returncode == 8
    done = user("search", "x", "--url", "127.0.0.1:9", "--timeout", "1.5")
    assert done.returncode == 6 and "127.0.0.1:9" in done.stderr
    done = user("--debug", "docs", "delete", "no-such-doc")
    assert done.returncode == 4 and "Traceback" in done.stderr and "request id" in done.stderr


def test_admin_lifecycle(admin: Babelrag, gateway) -> None:  # noqa: ANN001
    name = f"cli-adm-{os.getpid()}-{next(_names)}"
    code, created = admin.json("admin", "tenants", "create", name)
    assert code == 0
    assert admin("admin", "tenants", "create", name).returncode == 9
    done = admin("admin", "tenants", "list")
    assert done.returncode == 0 and name in done.stdout
    code, tenant = admin.json("admin", "tenants", "get", name)
    assert code == 0 and tenant["name"] == name and tenant["usage"]["documents"] == 0
    code, quota = admin.json("admin", "quota", "set", name, "--max-chunks", "1000", "--max-bytes", "10MiB")
    assert code == 0 and quota["quotas"]["max_chunks"] == 1000 and quota["quotas"]["max_bytes"] == 10 * 1024**2
    code, issued = admin.json("admin", "keys", "issue", name, "--label", "second")
    assert code == 0 and issued["api_key"].startswith("brk_")
    code, keys = admin.json("admin", "keys", "list", name)
    assert code == 0 and keys["count"] == 2
    user = Babelrag(gateway, issued["api_key"])
    assert user("search", "anything").returncode == 0
    code, _ = admin.json("admin", "tenants", "state", name, "offloaded")
    assert code == 0
    assert user("search", "anything").returncode == 10
    assert admin("admin", "tenants", "state", name, "active").returncode == 0
    assert admin("admin", "keys", "revoke", issued["key"]["key_id"]).returncode == 0
    assert user("search", "anything").returncode == 3
    assert admin("admin", "tenants", "delete", name).returncode == 2  # needs --yes
    code, deleted = admin.json("admin", "tenants", "delete", name, "--yes")
    assert code == 0 and deleted["keys_revoked"] >= 1
    assert admin("admin", "tenants", "get", name).returncode == 4
    tenant_key_as_admin = Babelrag(gateway)
    tenant_key_as_admin.env["BABELRAG_ADMIN_KEY"] = created["api_key"]
    assert tenant_key_as_admin("admin", "tenants", "list").returncode == 3
