"""Configuration: arguments over environment over defaults; URLs, TLS, timeouts, channel options."""

from __future__ import annotations

from pathlib import Path

import pytest

from babelrag_client import UNSET, Client, ConfigurationError, Keepalive, RetryPolicy, Timeouts
from babelrag_client._core import ClientConfig, parse_url

ENV = {
    "BABELRAG_URL": "env-host:6000",
    "BABELRAG_API_KEY": "env-key",
    "BABELRAG_ADMIN_KEY": "env-admin",
}


def test_defaults_without_environment() -> None:
    config = ClientConfig.resolve(environ={})
    assert config.url == "localhost:50051"
    assert config.endpoint.target == "localhost:50051" and not config.endpoint.tls
    assert config.api_key is None and config.admin_key is None
    assert config.timeouts == Timeouts() and config.retry == RetryPolicy()


def test_environment_over_defaults() -> None:
    config = ClientConfig.resolve(environ=ENV)
    assert config.endpoint.target == "env-host:6000" and config.endpoint.tls  # not loopback: TLS
    assert (config.api_key, config.admin_key) == ("env-key", "env-admin")


def test_arguments_over_environment() -> None:
    config = ClientConfig.resolve("arg-host:7000", api_key="arg-key", admin_key="arg-admin", insecure=True, environ=ENV)
    assert config.endpoint.target == "arg-host:7000" and not config.endpoint.tls
    assert (config.api_key, config.admin_key) == ("arg-key", "arg-admin")


def test_explicit_none_is_not_unset() -> None:
    """api_key=None means "no key", even when the environment has one; UNSET means "look it up"."""
    assert ClientConfig.resolve(api_key=None, environ=ENV).api_key is None
    assert ClientConfig.resolve(api_key=UNSET, environ=ENV).api_key == "env-key"


def test_client_reads_the_real_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BABELRAG_URL", "127.0.0.1:6123")
    monkeypatch.setenv("BABELRAG_API_KEY", " brk_abc_def \n")  # pasted with whitespace
    client = Client()
    assert client.config.endpoint.target == "127.0.0.1:6123"
    assert client.config.api_key == "brk_abc_def"
    assert "brk_abc_def" not in repr(client) and "brk_abc_def" not in repr(client.config)


@pytest.mark.parametrize(
    ("url", "target", "tls"),
    [
        ("localhost:50051", "localhost:50051", False),
        ("localhost", "localhost:50051", False),
        ("127.0.0.1:9000", "127.0.0.1:9000", False),
        ("[::1]:9000", "[::1]:9000", False),
        ("rag.example.com:443", "rag.example.com:443", True),
        ("rag.example.com", "rag.example.com:50051", True),
        ("https://rag.example.com", "rag.example.com:443", True),
        ("grpcs://rag.example.com:8443", "rag.example.com:8443", True),
        ("http://rag.internal:50051", "rag.internal:50051", False),
        ("grpc://10.0.0.5", "10.0.0.5:50051", False),
        ("unix:/run/babelrag.sock", "unix:/run/babelrag.sock", False),
    ],
)
def test_url_parsing(url: str, target: str, tls: bool) -> None:
    endpoint = parse_url(url)
    assert (endpoint.target, endpoint.tls) == (target, tls)


def test_insecure_overrides_the_loopback_rule() -> None:
    assert not parse_url("rag.internal:50051", insecure=True).tls
    assert parse_url("localhost:50051", insecure=False).tls


@pytest.mark.parametrize(
    ("url", "kwargs"),
    [
        ("", {}),
        ("ftp://host", {}),
        ("host:notaport", {}),
        ("https://host/path", {}),
        ("https://host", {"insecure": True}),
        ("http://host", {"insecure": False}),
    ],
)
def test_bad_urls_are_configuration_errors(url: str, kwargs: dict) -> None:
    with pytest.raises(ConfigurationError):
        parse_url(url, **kwargs)


def test_ca_file(tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_bytes(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    config = ClientConfig.resolve("https://rag.example.com", ca_file=pem, environ={})
    assert config.root_certificates.startswith(b"-----BEGIN CERTIFICATE-----")
    assert config.credentials() is not None
    from_env = ClientConfig.resolve("https://rag.example.com", environ={"BABELRAG_CA_FILE": str(pem)})
    assert from_env.root_certificates == config.root_certificates


def test_ca_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read the CA file"):
        ClientConfig.resolve("https://h", ca_file=tmp_path / "missing.pem", environ={})
    junk = tmp_path / "junk.pem"
    junk.write_text("hello")
    with pytest.raises(ConfigurationError, match="no PEM certificate"):
        ClientConfig.resolve("https://h", ca_file=junk, environ={})
    with pytest.raises(ConfigurationError, match="plain-text"):
        ClientConfig.resolve("localhost:1", ca_file=junk, environ={})


def test_plain_channel_has_no_credentials() -> None:
    assert ClientConfig.resolve("localhost:1", environ={}).credentials() is None


def test_timeouts() -> None:
    assert ClientConfig.resolve(timeout=5, environ={}).timeouts == Timeouts.uniform(5)
    assert ClientConfig.resolve(timeout=None, environ={}).timeouts == Timeouts.uniform(None)
    custom = Timeouts(ask=600)
    assert ClientConfig.resolve(timeout=custom, environ={}).timeouts is custom
    for bad in (0, -1, float("nan"), "5", True):
        with pytest.raises(ConfigurationError):
            ClientConfig.resolve(timeout=bad, environ={})


def test_retry_and_keepalive_settings() -> None:
    assert ClientConfig.resolve(retry=None, environ={}).retry.max_attempts == 1
    with pytest.raises(ConfigurationError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ConfigurationError):
        RetryPolicy(initial_backoff=5, max_backoff=1)
    with pytest.raises(ConfigurationError):
        Keepalive(time=1)  # the server refuses pings more often than every 10 s


def test_channel_options() -> None:
    config = ClientConfig.resolve(
        keepalive=Keepalive(time=30, timeout=5), channel_options=[("grpc.ssl_target_name_override", "x")], environ={}
    )
    options = dict(config.grpc_options())
    assert options["grpc.keepalive_time_ms"] == 30_000
    assert options["grpc.keepalive_timeout_ms"] == 5_000
    assert options["grpc.ssl_target_name_override"] == "x"
    assert options["grpc.primary_user_agent"].startswith("babelrag-python/")
    assert options["grpc.max_receive_message_length"] == 64 * 1024 * 1024
    assert "grpc.keepalive_time_ms" not in dict(ClientConfig.resolve(keepalive=None, environ={}).grpc_options())


def test_keys_that_cannot_be_sent_are_rejected() -> None:
    with pytest.raises(ConfigurationError):
        ClientConfig.resolve(api_key="brk_a b", environ={})
    with pytest.raises(ConfigurationError):
        ClientConfig.resolve(api_key="brk_ä", environ={})
    assert ClientConfig.resolve(api_key="  ", environ={}).api_key is None
