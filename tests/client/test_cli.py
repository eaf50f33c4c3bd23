"""The ``babelrag`` command against the scripted server: output, --json shapes, exit codes.

Most tests call :func:`babelrag_client.cli.main` in-process (fast); a few run
``python -m babelrag_client.cli`` as a person would, to check the real entry point.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from PIL import Image

from babelrag.v1 import documents_pb2
from babelrag_client import cli
from tests.client.conftest import SUBPROCESS_ENV_PATH
from tests.client.fakeserver import ADMIN_KEY, API_KEY, FakeServer


def run(fake: FakeServer, *args: str, key: bool = True) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    credentials = ["--url", fake.address]
    if key:
        credentials += ["--api-key", API_KEY, "--admin-key", ADMIN_KEY]
    code = cli.main([*args, *credentials], stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def test_exit_codes_are_documented() -> None:
    assert cli.EXIT_CODES[0] == "success" and cli.EXIT_CODES[7].startswith("ingest")
    from babelrag_client import errors

    assert cli.exit_code_for(errors.AuthenticationError("x")) == 3
    assert cli.exit_code_for(errors.PermissionDeniedError("x")) == 3
    assert cli.exit_code_for(errors.NotFoundError("x")) == 4
    assert cli.exit_code_for(errors.QuotaExceededError("x")) == 5
    assert cli.exit_code_for(errors.ServiceUnavailableError("x")) == 6
    assert cli.exit_code_for(errors.DeadlineExceededError("x")) == 8
    assert cli.exit_code_for(errors.InvalidRequestError("x")) == 2
    assert cli.exit_code_for(errors.ServerError("x")) == 1
    assert cli.exit_code_for(RuntimeError("x")) == 1


def test_search_human_and_json(fake: FakeServer) -> None:
    code, out, err = run(fake, "search", "eiffel", "--top-k", "3")
    assert code == 0 and err == ""
    assert "Doc one" in out and "doc-1 #0" in out and "you asked: eiffel" in out
    code, out, _ = run(fake, "search", "eiffel", "--json", "--filter", "language=en,de", "--filter", "tag=x")
    data = json.loads(out)
    assert code == 0 and data["hits"][0]["document_id"] == "doc-1"
    request = fake.backend.requests["Search"][-1]
    assert [(m.field, list(m.any_of)) for m in request.filters.match] == [("language", ["en", "de"]), ("tag", ["x"])]


def test_global_options_before_the_command(fake: FakeServer) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = cli.main(["--json", "--url", fake.address, "--api-key", API_KEY, "search", "x"], stdout=stdout, stderr=stderr)
    assert code == 0 and json.loads(stdout.getvalue())["hits"]


def test_ask_streams_then_lists_sources(fake: FakeServer, tmp_path: Path) -> None:
    image = tmp_path / "q.png"
    Image.new("RGB", (4, 4)).save(image)
    code, out, _ = run(fake, "ask", "Capital of France?", "--lang", "fr", "--top-k", "4", "--image", str(image))
    assert code == 0
    assert out.startswith("Paris is the capital [1].\n")
    assert "Sources:\n  [1] Doc one (doc-1)" in out
    request = fake.backend.requests["Ask"][-1]
    assert request.answer_language == "fr" and len(request.images) == 1
    code, out, _ = run(fake, "ask", "Capital?", "--json")
    data = json.loads(out)
    assert code == 0 and data["text"] == "Paris is the capital [1]." and data["citations"][0]["number"] == 1


def test_ingest_summary_and_partial_failure(fake: FakeServer, tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "a.txt").write_text("alpha")
    (folder / "bad.txt").write_text("BROKEN")
    (folder / ".hidden").write_text("x")
    code, out, err = run(fake, "ingest", str(folder), "--tag", "t1", "--language", "en")
    assert code == cli.EXIT_PARTIAL
    assert "Ingested 1 of 2 items" in out and "1 skipped, 1 errors" in out
    assert "failed" in err and "bad.txt" in err and "INVALID_ARGUMENT" in err
    assert [list(r.header.tags) for r in fake.backend.received] == [["t1"], ["t1"]]
    code, out, _ = run(fake, "ingest", str(folder / "a.txt"), "--json")
    data = json.loads(out)
    assert code == 0
    assert {k: data[k] for k in ("files", "stored", "failed", "errors")} == {"files": 1, "stored": 1, "failed": 0, "errors": []}
    assert data["results"][0]["status"] == "stored" and "chunks" in data


def test_ingest_caption_needs_one_image(fake: FakeServer, tmp_path: Path) -> None:
    code, _, err = run(fake, "ingest", str(tmp_path), "--caption", "x")
    assert code == 2 and "--caption" in err


def test_docs_list_and_delete(fake: FakeServer) -> None:
    for i in range(3):
        fake.backend.documents[f"d{i}"] = documents_pb2.DocumentInfo(document_id=f"d{i}", chunks=2, bytes=1000)
    code, out, _ = run(fake, "docs", "list", "--page-size", "2")
    assert code == 0 and "d0" in out and "d2" in out and "3 documents" in out
    code, out, _ = run(fake, "docs", "list", "--json", "--limit", "2")
    assert json.loads(out)["count"] == 2
    code, out, err = run(fake, "docs", "delete", "d1", "nope")
    assert code == cli.EXIT_NOT_FOUND and "Deleted d1 (2 chunks)." in out and "nope" in err
    code, out, _ = run(fake, "docs", "delete", "d0", "--json")
    assert code == 0 and json.loads(out) == {"deleted": [{"document_id": "d0", "chunks_deleted": 2}], "errors": []}


def test_admin_commands(fake: FakeServer) -> None:
    code, out, _ = run(fake, "admin", "tenants", "create", "acme", "--rps", "5", "--burst", "10", "--json")
    created = json.loads(out)
    assert code == 0 and created["tenant"]["name"] == "acme" and created["api_key"].startswith("brk_")
    assert created["tenant"]["quotas"]["burst"] == 10
    code, out, _ = run(fake, "admin", "tenants", "create", "acme")
    assert code == cli.EXIT_EXISTS
    code, out, _ = run(fake, "admin", "tenants", "list")
    assert code == 0 and "acme" in out and "rps 5" in out
    code, out, _ = run(fake, "admin", "quota", "set", "acme", "--max-bytes", "10MiB", "--json")
    quotas = json.loads(out)["quotas"]
    assert quotas == {"requests_per_second": 5.0, "burst": 10, "max_chunks": 0, "max_bytes": 10 * 1024 * 1024}  # others kept
    code, out, _ = run(fake, "admin", "tenants", "state", "acme", "offloaded")
    assert code == 0 and "offloaded" in out
    code, out, _ = run(fake, "admin", "keys", "issue", "acme", "--label", "ci", "--json")
    key_id = json.loads(out)["key"]["key_id"]
    code, out, _ = run(fake, "admin", "keys", "list", "acme", "--json")
    assert code == 0 and json.loads(out)["count"] == 2
    code, out, _ = run(fake, "admin", "keys", "revoke", key_id)
    assert code == 0 and f"Revoked API key {key_id}" in out
    code, _, err = run(fake, "admin", "tenants", "delete", "acme")
    assert code == 2 and "--yes" in err
    code, out, _ = run(fake, "admin", "tenants", "delete", "acme", "--yes", "--json")
    assert code == 0 and json.loads(out)["keys_revoked"] == 2
    code, _, err = run(fake, "admin", "tenants", "get", "acme")
    assert code == cli.EXIT_NOT_FOUND and err.count("\n") == 1


def test_quota_set_needs_a_limit(fake: FakeServer) -> None:
    code, _, err = run(fake, "admin", "quota", "set", "acme")
    assert code == 2 and "--rps" in err


@pytest.mark.parametrize(
    ("code", "exit_code"),
    [
        (grpc.StatusCode.UNAUTHENTICATED, 3),
        (grpc.StatusCode.PERMISSION_DENIED, 3),
        (grpc.StatusCode.NOT_FOUND, 4),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 5),
        (grpc.StatusCode.UNAVAILABLE, 6),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 8),
        (grpc.StatusCode.FAILED_PRECONDITION, 10),
        (grpc.StatusCode.INVALID_ARGUMENT, 2),
        (grpc.StatusCode.INTERNAL, 1),
    ],
)
def test_errors_are_one_line_with_an_exit_code(fake: FakeServer, code: grpc.StatusCode, exit_code: int) -> None:
    fake.backend.fail("Search", code, "scripted", trailing=(("retry-after-ms", "2000"),), times=10)
    status, out, err = run(fake, "search", "x", "--timeout", "1.2")  # bounds the retries of UNAVAILABLE
    assert status == exit_code
    assert err.count("\n") == 1 and err.startswith("babelrag: error: ") and "Traceback" not in err
    assert out == ""
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
        assert "retry after 2.0 s" in err
    status, out, _ = run(fake, "search", "x", "--json", "--timeout", "1.2")
    error = json.loads(out)
    assert status == exit_code and error["exit_code"] == exit_code and error["error"]["code"] == code.name


def test_missing_key_mentions_the_option(fake: FakeServer) -> None:
    status, _, err = run(fake, "search", "x", key=False)
    assert status == 3 and "--api-key" in err and "BABELRAG_API_KEY" in err


def test_debug_shows_the_traceback(fake: FakeServer) -> None:
    fake.backend.fail("Search", grpc.StatusCode.NOT_FOUND)
    status, _, err = run(fake, "search", "x", "--debug")
    assert status == 4 and "Traceback" in err and "request id" in err


def test_usage_errors(fake: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["search"]) == 2  # neither query nor image
    assert cli.main(["ask"]) == 2  # argparse: missing question
    assert cli.main(["ask", "q", "--top-k", "0"]) == 2
    assert cli.main(["admin", "quota", "set", "t", "--max-bytes", "lots"]) == 2
    assert cli.main(["--help"]) == 0
    assert "exit codes:" in capsys.readouterr().out


def test_parse_size() -> None:
    assert cli.parse_size("1000") == 1000
    assert cli.parse_size("10MiB") == 10 * 1024**2
    assert cli.parse_size("1.5GB") == 1_500_000_000
    assert cli.parse_size("512k") == 512 * 1024


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BABELRAG_")}
    env["PYTHONPATH"] = SUBPROCESS_ENV_PATH
    env.update(extra)
    return env


def test_entry_point_as_a_person_runs_it(fake: FakeServer) -> None:
    env = subprocess_env(BABELRAG_URL=fake.address, BABELRAG_API_KEY=API_KEY)
    done = subprocess.run(
        [sys.executable, "-m", "babelrag_client.cli", "search", "hello", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["hits"][0]["snippet"].startswith("you asked: hello")
    wrong = subprocess.run(
        [sys.executable, "-m", "babelrag_client.cli", "search", "hello"],
        env={**env, "BABELRAG_API_KEY": "brk_wrong"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode == 3 and wrong.stdout == ""
    assert wrong.stderr.strip().startswith("babelrag: error:") and wrong.stderr.count("\n") == 1


def test_unreachable_server_exit_code() -> None:
    env = subprocess_env(BABELRAG_API_KEY=API_KEY)
    done = subprocess.run(
        [sys.executable, "-m", "babelrag_client.cli", "search", "x", "--url", "127.0.0.1:9", "--timeout", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 6, done.stderr
    assert "127.0.0.1:9" in done.stderr and "unavailable" in done.stderr


def test_progress_bar_draws_and_clears() -> None:
    from babelrag_client import IngestProgress

    stream = io.StringIO()
    bar = cli.ProgressBar(stream)
    bar(IngestProgress(items_total=4, items_done=1, items_failed=1, bytes_sent=512, bytes_total=2048, current="docs/a.txt"))
    drawn = stream.getvalue()
    assert drawn.startswith("\r[") and "1/4 items" in drawn and "1 failed" in drawn and "docs/a.txt" in drawn
    bar(IngestProgress(items_total=4, items_done=1, items_failed=1, bytes_sent=600, bytes_total=2048))
    assert stream.getvalue() == drawn  # redrawn at most every 0.1 s
    bar.clear()
    assert stream.getvalue().endswith("\r")
