"""Starting and stopping tritonserver, from the library and from the command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from babelrag.triton.errors import TritonStartError
from babelrag.triton.launcher import TritonPorts, TritonServer, free_port

pytestmark = pytest.mark.slow


def test_missing_repository_is_a_clear_error(tmp_path):
    with pytest.raises(TritonStartError, match="does not exist"):
        TritonServer(tmp_path / "nope").start()


def test_missing_model_is_a_clear_error(tiny_layout, tmp_path):
    with pytest.raises(TritonStartError, match="no model"):
        TritonServer(tiny_layout.repository, models=["no_such_model"], runtime_dir=tmp_path).start()


def test_start_failure_reports_the_log(tiny_layout, tmp_path, triton_server):
    # the session server already holds this gRPC port: the second server must fail, not hang
    ports = TritonPorts(http=free_port(), grpc=triton_server.ports.grpc, metrics=free_port())
    server = TritonServer(tiny_layout.repository, models=["e5_tokenizer"], ports=ports, runtime_dir=tmp_path)
    with pytest.raises(TritonStartError, match="already in use"):
        server.start(timeout=60)
    assert not server.is_running()


def test_cli_serves_until_sigterm(tiny_layout, tmp_path):
    grpc_port = free_port()
    env = dict(os.environ, BABELRAG_DATA_DIR=str(tiny_layout.root.parent.parent))
    process = subprocess.Popen(
        [sys.executable, "-m", "babelrag.cli", "triton", "--profile", "tiny",
         "--grpc-port", str(grpc_port), "--http-port", str(free_port()), "--metrics-port", str(free_port())],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        lines = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Triton ready" in line:
                break
        assert any("Triton ready" in line for line in lines), "".join(lines)
        import tritonclient.grpc as grpcclient

        client = grpcclient.InferenceServerClient(f"127.0.0.1:{grpc_port}")
        assert client.is_model_ready("text_embedding")
        client.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert "stopping tritonserver" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
    # the port is free again: nothing of the server is left behind
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", grpc_port))
