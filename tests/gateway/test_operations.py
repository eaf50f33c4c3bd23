"""Health, reflection, metrics, and recovery when Triton dies and comes back."""

from __future__ import annotations

import time
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from babelrag.gateway.server import served_models
from babelrag.triton.launcher import TritonPorts, TritonServer
from tests.gateway.helpers import Api, text_item
from tests.gateway_harness import GatewayHandle

pytestmark = pytest.mark.slow


def health_status(address: str, service: str = "") -> int:
    with grpc.insecure_channel(address) as channel:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status


def test_health_reflection_and_metrics(gateway, new_tenant):
    assert health_status(gateway.address) == health_pb2.HealthCheckResponse.SERVING
    assert health_status(gateway.address, "babelrag.v1.AskService") == health_pb2.HealthCheckResponse.SERVING
    with grpc.insecure_channel(gateway.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10)
        services = {s.name for r in responses for s in r.list_services_response.service}
    assert {"babelrag.v1.AskService", "babelrag.v1.IngestService", "babelrag.v1.AdminService", "grpc.health.v1.Health"} <= services
    _, api = new_tenant()
    api.ingest(text_item("m", "Metrics are counted per method and stage."))
    api.search("metrics")
    body = urllib.request.urlopen(f"http://127.0.0.1:{gateway.settings.metrics_port}/metrics", timeout=10).read().decode()
    assert 'babelrag_requests_total{code="OK",method="Search"}' in body
    assert 'babelrag_stage_seconds_count{stage="embed"}' in body
    assert "babelrag_ingested_chunks_total" in body


def test_triton_down_is_unavailable_quickly_and_recovers(tiny_layout, tmp_path):
    ports = TritonPorts.free()
    triton = TritonServer(tiny_layout.repository, models=served_models(tiny_layout), ports=ports, runtime_dir=tmp_path / "rt")
    triton.start()
    handle = GatewayHandle.launch(tmp_path / "data", tiny_layout.root.parent, triton.grpc_url, triton_timeout_s=5.0)
    api = None
    try:
        api = Api(handle.address, handle.create_tenant("ops"))
        api.ingest(text_item("doc", "Triton serves the encoders of this gateway."))
        assert api.search("encoders").hits
        triton.kill()
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            api.search("a different query, not cached")
        elapsed = time.monotonic() - started
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "unavailable" in info.value.details()
        assert elapsed < 2.5, f"took {elapsed:.2f}s to report UNAVAILABLE"
        deadline = time.monotonic() + 10
        while health_status(handle.address) != health_pb2.HealthCheckResponse.NOT_SERVING:
            assert time.monotonic() < deadline, "health never went NOT_SERVING"
            time.sleep(0.5)
        triton = TritonServer(tiny_layout.repository, models=served_models(tiny_layout), ports=ports, runtime_dir=tmp_path / "rt2")
        triton.start()
        deadline = time.monotonic() + 30
        while True:  # the same gateway, never restarted, serves again
            try:
                assert api.search("a different query, not cached").hits
                break
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAVAILABLE
                assert time.monotonic() < deadline, "the gateway did not recover"
                time.sleep(0.5)
    finally:
        if api is not None:
            api.close()
        handle.close()
        triton.stop()


def test_restart_in_process_serves_every_service_again(gateway, new_tenant):
    """Stop + start on the same ports (metrics included) leaves nothing behind that breaks the new one."""
    _, api = new_tenant()
    api.ingest(text_item("kept", "Restarts must keep the data: the word is quokka."))
    gateway.restart(downtime_s=0.5)
    for service in ("", "babelrag.v1.AskService", "babelrag.v1.SearchService", "babelrag.v1.AdminService"):
        assert health_status(gateway.address, service) == health_pb2.HealthCheckResponse.SERVING, service
    assert [h.document_id for h in api.search("quokka").hits] == ["kept"]
    body = urllib.request.urlopen(f"http://127.0.0.1:{gateway.settings.metrics_port}/metrics", timeout=10).read().decode()
    assert "babelrag_requests_total" in body
