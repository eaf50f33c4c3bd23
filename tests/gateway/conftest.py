from __future__ import annotations

import itertools

import pytest

from tests.gateway.helpers import Api

_names = itertools.count()


@pytest.fixture
def new_tenant(gateway):
    """Create a fresh tenant; returns (name, Api for its key). Channels are closed afterwards."""
    opened: list[Api] = []

    def make(prefix: str = "t", **quotas) -> tuple[str, Api]:
        name = f"{prefix}{next(_names)}-{id(opened) % 10000}"
        api = Api(gateway.address, gateway.create_tenant(name, **quotas))
        opened.append(api)
        return name, api

    yield make
    for api in opened:
        api.close()


@pytest.fixture
def anonymous(gateway):
    api = Api(gateway.address, None)
    yield api
    api.close()
