"""client.py is generated from aio.py: fail when someone edited one without regenerating."""

from __future__ import annotations

from babelrag_client import _unasync


def test_generated_sync_client_is_current() -> None:
    expected = _unasync.generate(_unasync.SOURCE.read_text(encoding="utf-8"))
    assert _unasync.TARGET.read_text(encoding="utf-8") == expected, (
        "clients/python/babelrag_client/client.py is out of date: run `python -m babelrag_client._unasync`"
    )
    assert _unasync.main(["--check"]) == 0


def test_generated_code_has_no_async_left() -> None:
    text = _unasync.TARGET.read_text(encoding="utf-8")
    for token in ("async def", "await ", "async for", "async with", "AsyncClient", "aclose", "grpc.aio", "async_"):
        assert token not in text, token


def test_rules_cover_the_constructs_in_use() -> None:
    source = "async def f(self) -> AsyncIterator[int]:\n    async with x:\n        await async_sleep(1)\n    await self._events.aclose()\n    return await anext(it)\n"
    assert _unasync.generate('"""doc"""\n' + source).endswith(
        "def f(self) -> Iterator[int]:\n    with x:\n        sync_sleep(1)\n    self._events.close()\n    return next(it)\n"
    )
