"""Fixtures of the SDK tests: a scripted fake server, and the same test run on both clients.

``api`` is parametrised over the sync :class:`Client` and the :class:`AsyncClient`; tests call
``await api("search", "q")`` / ``await api.events(api.client.ask("q"))`` and run once per client.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

CLIENT_SRC = Path(__file__).resolve().parents[2] / "clients" / "python"
# An editable install made before babelrag_client had an __init__.py registers it as a namespace
# package; put the source first so the real package is imported either way (harmless otherwise).
if str(CLIENT_SRC) not in sys.path:
    sys.path.insert(0, str(CLIENT_SRC))
for _name in [m for m in sys.modules if m == "babelrag_client" or m.startswith("babelrag_client.")]:
    if getattr(sys.modules[_name], "__file__", None) is None:
        del sys.modules[_name]

from babelrag_client import AsyncClient, Client, RetryPolicy  # noqa: E402
from tests.client.fakeserver import ADMIN_KEY, API_KEY, FakeServer  # noqa: E402

FAST_RETRY = RetryPolicy(max_attempts=4, initial_backoff=0.01, max_backoff=0.05)
SUBPROCESS_ENV_PATH = os.pathsep.join([str(CLIENT_SRC), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)


@pytest.fixture(autouse=True)
def _no_babelrag_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests configure clients explicitly: a developer's BABELRAG_* variables must not leak in."""
    for name in ("BABELRAG_URL", "BABELRAG_API_KEY", "BABELRAG_ADMIN_KEY", "BABELRAG_CA_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


class Api:
    """One client, sync or async, behind awaitable calls."""

    def __init__(self, client: Client | AsyncClient) -> None:
        self.client = client
        self.is_async = isinstance(client, AsyncClient)

    async def __call__(self, path: str, *args: Any, **kwargs: Any) -> Any:
        target: Any = self.client
        for part in path.split("."):
            target = getattr(target, part)
        result = target(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def events(self, stream: Any) -> list[Any]:
        if self.is_async:
            return [event async for event in stream]
        return list(stream)


def make_client(kind: str, address: str, **kwargs: Any) -> Client | AsyncClient:
    kwargs.setdefault("api_key", API_KEY)
    kwargs.setdefault("admin_key", ADMIN_KEY)
    kwargs.setdefault("retry", FAST_RETRY)
    return (AsyncClient if kind == "async" else Client)(address, **kwargs)


async def close(client: Client | AsyncClient) -> None:
    if isinstance(client, AsyncClient):
        await client.aclose()
    else:
        client.close()


@pytest.fixture(params=["sync", "async"])
async def api(request: pytest.FixtureRequest, fake: FakeServer) -> AsyncIterator[Api]:
    client = make_client(request.param, fake.address)
    yield Api(client)
    await close(client)
