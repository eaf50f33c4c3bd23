"""Ingest through both clients against a scripted server: streaming, results, failures, progress."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import grpc
import pytest
from PIL import Image

from babelrag_client import (
    AuthenticationError,
    BlobDocument,
    IngestProgress,
    IngestStatus,
    Modality,
    ServiceUnavailableError,
    TextDocument,
)
from babelrag_client._core import PIECE_SIZE
from tests.client.conftest import Api
from tests.client.fakeserver import FakeServer


def mixed_folder(root: Path) -> Path:
    folder = root / "kb"
    folder.mkdir()
    (folder / "a.txt").write_text("alpha " * 100)
    (folder / "b.md").write_text("# Bravo\n\nbravo text")
    (folder / "broken.txt").write_text("BROKEN content the server cannot parse")
    (folder / ".secret").write_text("hidden")
    (folder / "big.txt").write_bytes(b"x" * (2 * PIECE_SIZE + 10))
    Image.new("RGB", (8, 8), "green").save(folder / "leaf.png")
    (folder / "leaf.png.caption.txt").write_text("a green leaf")
    return folder


async def test_folder_with_a_broken_file(api: Api, fake: FakeServer, tmp_path: Path) -> None:
    report = await api("ingest", mixed_folder(tmp_path), tags=["kb"])
    assert [r.source.rsplit("/", 1)[-1] for r in report] == ["a.txt", "b.md", "big.txt", "broken.txt", "leaf.png"]
    assert [r.status for r in report] == [IngestStatus.STORED] * 3 + [IngestStatus.FAILED, IngestStatus.STORED]
    broken = report.failed[0]
    assert broken.error.code == "INVALID_ARGUMENT" and "cannot parse" in broken.error.message
    assert not report.ok and len(report.stored) == 4
    assert [s.reason for s in report.skipped] == ["hidden"]
    leaf = report.results[-1]
    assert leaf.modality is Modality.IMAGE and leaf.document_id == "kb/leaf.png"
    received = {item.header.document_id: item for item in fake.backend.received}
    assert received["kb/leaf.png"].header.caption == "a green leaf"
    assert list(received["kb/a.txt"].header.tags) == ["kb"]
    big = received["kb/big.txt"]
    assert big.pieces == 3 and big.header.size_bytes == len(big.data) == 2 * PIECE_SIZE + 10  # streamed in pieces
    assert len(fake.backend.calls_of("Ingest")) == 1


async def test_progress_callback(api: Api, tmp_path: Path) -> None:
    events: list[IngestProgress] = []
    threads: set[str] = set()
    overlap = threading.Lock()

    def progress(event: IngestProgress) -> None:
        assert overlap.acquire(blocking=False), "progress callbacks must not overlap"
        try:
            threads.add(threading.current_thread().name)
            events.append(event)
        finally:
            overlap.release()

    folder = mixed_folder(tmp_path)
    report = await api("ingest", folder, progress=progress)
    total_bytes = sum(p.stat().st_size for p in folder.iterdir() if not p.name.startswith(".") and not p.name.endswith(".caption.txt"))
    assert events[-1].items_done == events[-1].items_total == 5
    assert events[-1].bytes_sent == events[-1].bytes_total == total_bytes
    assert [e.bytes_sent for e in events] == sorted(e.bytes_sent for e in events)
    finished = [e.result for e in events if e.result is not None]
    assert sorted(r.source for r in finished) == sorted(r.source for r in report)
    assert events[-1].items_failed == 1


async def test_batches_become_separate_streams(api: Api, fake: FakeServer) -> None:
    documents = [TextDocument(f"text number {i}", document_id=f"d{i}") for i in range(5)]
    report = await api("ingest", documents, batch_size=2)
    assert report.ok and [r.document_id for r in report] == [f"d{i}" for i in range(5)]
    assert len(fake.backend.calls_of("Ingest")) == 3


async def test_stream_failing_part_way_reports_instead_of_raising(api: Api, fake: FakeServer) -> None:
    fake.backend.ingest_abort_after = (1, grpc.StatusCode.UNAVAILABLE)
    documents = [TextDocument(f"text {i}", document_id=f"d{i}") for i in range(5)]
    report = await api("ingest", documents, batch_size=3)
    codes = [(r.status, r.error.code if r.error else None) for r in report]
    assert codes[0] == (IngestStatus.STORED, None)
    assert codes[1] == codes[2] == (IngestStatus.FAILED, "UNAVAILABLE")  # sent: may or may not be stored
    assert codes[3] == codes[4] == (IngestStatus.FAILED, "NOT_SENT")  # later batch: not attempted
    assert "may have been stored" in report.results[1].error.message
    assert len(fake.backend.calls_of("Ingest")) == 1


async def test_failure_before_any_result_raises(api: Api, fake: FakeServer) -> None:
    fake.backend.ingest_abort_after = (0, grpc.StatusCode.UNAVAILABLE)
    with pytest.raises(ServiceUnavailableError):
        await api("ingest", [TextDocument("a", document_id="a"), TextDocument("b", document_id="b")])


async def test_wrong_key_raises(fake: FakeServer) -> None:
    from tests.client.conftest import close, make_client

    for kind in ("sync", "async"):
        client = make_client(kind, fake.address, api_key="brk_wrong")
        with pytest.raises(AuthenticationError):
            result = client.ingest(TextDocument("x"))
            if kind == "async":
                await result
        await close(client)


class FailingStream(io.RawIOBase):
    """A stream that fails after its first piece (a disk error, a dropped network mount)."""

    def __init__(self) -> None:
        self.reads = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        if self.reads > 1:
            raise OSError(5, "Input/output error")
        return b"y" * PIECE_SIZE


async def test_read_error_part_way_fails_only_that_item(api: Api, fake: FakeServer) -> None:
    report = await api(
        "ingest",
        [
            TextDocument("before", document_id="before"),
            BlobDocument(FailingStream(), filename="flaky.txt", document_id="flaky", size=3 * PIECE_SIZE),
            TextDocument("after", document_id="after"),
        ],
    )
    assert [r.status for r in report] == [IngestStatus.STORED, IngestStatus.FAILED, IngestStatus.STORED]
    flaky = report.results[1]
    assert flaky.error.code == "IO_ERROR" and "Input/output error" in flaky.error.message
    assert fake.backend.received[1].header.size_bytes == 3 * PIECE_SIZE  # the server can tell it is short


async def test_unreadable_input_is_reported(api: Api, fake: FakeServer, tmp_path: Path) -> None:
    report = await api("ingest", [tmp_path / "nope.txt", TextDocument("fine", document_id="fine")])
    assert [r.status for r in report] == [IngestStatus.FAILED, IngestStatus.STORED]
    assert report.results[0].error.code == "IO_ERROR"


async def test_failing_progress_callback_propagates(api: Api) -> None:
    def progress(event: IngestProgress) -> None:
        raise RuntimeError("callback bug")

    with pytest.raises(RuntimeError, match="callback bug"):
        await api("ingest", TextDocument("x", document_id="x"), progress=progress)


async def test_nothing_to_send_makes_no_call(api: Api, fake: FakeServer, tmp_path: Path) -> None:
    (tmp_path / ".only-hidden").write_text("x")
    report = await api("ingest", tmp_path)
    assert report.results == () and len(report.skipped) == 1
    assert fake.backend.calls_of("Ingest") == []


async def test_ingest_validation(api: Api) -> None:
    from babelrag_client import InvalidRequestError

    with pytest.raises(InvalidRequestError):
        await api("ingest", TextDocument("x"), batch_size=0)
    with pytest.raises(InvalidRequestError):
        await api("ingest", b"raw bytes")
