"""Type detection and ingest planning: folder walks, hidden files, sidecars, documents."""

from __future__ import annotations

import io
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
from PIL import Image

from babelrag_client import BlobDocument, FileDocument, ImageDocument, InvalidRequestError, TextDocument
from babelrag_client import _mime
from babelrag_client._files import document_id_for, plan_ingest

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
GIF = b"GIF89a" + b"\x00" * 32
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 32
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


@pytest.mark.parametrize(
    ("head", "name", "expected"),
    [
        (JPEG, "photo.jpg", "image/jpeg"),
        (JPEG, "photo.png", "image/jpeg"),  # magic wins over a wrong extension
        (PNG, "noext", "image/png"),
        (GIF, "a.gif", "image/gif"),
        (WEBP, "a.webp", "image/webp"),
        (PDF, "report", "application/pdf"),
        (b"junk that is not a pdf", "broken.pdf", "application/pdf"),  # sent: the server reports it
        (b"# Title\n\ntext", "notes.md", "text/markdown"),
        (b"plain words", "README", "text/plain"),
        (b"<!DOCTYPE html><html><body>x</body></html>", "page", "text/html"),
        (b'{"a": 1}', "data.json", "application/json"),
        (b"a,b\n1,2\n", "t.csv", "text/csv"),
        (b"\xff\xfeh\x00i\x00", "utf16.txt", "text/plain"),  # UTF-16 with BOM is text
        (b"\x00\x01\x02\x03binary\x00\x00", "blob.bin", "application/octet-stream"),
        (b"\x00\x01\x02\x03binary\x00\x00", "fake.txt", "application/octet-stream"),
        (b"PK\x03\x04" + b"\x00" * 20, "doc.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        (b"PK\x03\x04" + b"\x00" * 20, "a.zip", "application/zip"),
        (b"\x00\x00\x00\x18ftypmp42", "clip.mp4", "video/mp4"),
    ],
)
def test_detect(head: bytes, name: str, expected: str) -> None:
    assert _mime.detect(head, name) == expected


def test_supported_types() -> None:
    for mime in ("text/plain", "text/markdown", "text/html", "application/pdf", "application/json", "image/webp"):
        assert _mime.is_supported(mime)
    for mime in ("application/zip", "video/mp4", "image/tiff", "application/octet-stream", "image/bmp"):
        assert not _mime.is_supported(mime)


def make_tree(root: Path) -> Path:
    docs = root / "docs"
    (docs / "guide").mkdir(parents=True)
    (docs / ".git").mkdir()
    (docs / ".git" / "config").write_text("secret")
    (docs / "guide" / "intro.md").write_text("# Intro\n\nHello")
    (docs / "notes.txt").write_text("some notes")
    (docs / ".hidden.txt").write_text("hidden")
    (docs / "empty.txt").write_bytes(b"")
    (docs / "movie.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    (docs / "broken.pdf").write_bytes(b"this is not a pdf")
    (docs / "Q3 report (final).txt").write_text("numbers")
    Image.new("RGB", (4, 4), "blue").save(docs / "cat.jpg")
    (docs / "cat.jpg.caption.txt").write_text("A blue cat\n")
    return docs


def test_plan_folder(tmp_path: Path) -> None:
    docs = make_tree(tmp_path)
    plan = plan_ingest(docs, tags=["kb"], language="EN")
    by_id = {item.header.document_id: item for item in plan.items}
    assert sorted(by_id) == [
        "docs/Q3 report _final_.txt",
        "docs/broken.pdf",
        "docs/cat.jpg",
        "docs/guide/intro.md",
        "docs/notes.txt",
    ]
    cat = by_id["docs/cat.jpg"].header
    assert (cat.caption, cat.mime_type, cat.filename) == ("A blue cat", "image/jpeg", "cat.jpg")
    intro = by_id["docs/guide/intro.md"].header
    assert (intro.mime_type, list(intro.tags), intro.language) == ("text/markdown", ["kb"], "en")
    assert by_id["docs/notes.txt"].size == len("some notes")
    skipped = {Path(s.path).name: s.reason for s in plan.skipped}
    assert skipped == {
        ".git": "hidden",
        ".hidden.txt": "hidden",
        "empty.txt": "empty file",
        "movie.mp4": "unsupported type video/mp4",
    }
    assert [item.position for item in plan.items] == list(range(5))


def test_plan_not_recursive(tmp_path: Path) -> None:
    docs = make_tree(tmp_path)
    plan = plan_ingest(docs, recursive=False)
    assert "docs/guide/intro.md" not in {i.header.document_id for i in plan.items}
    assert any(s.reason == "sub-folder (not recursive)" for s in plan.skipped)


def test_explicit_files_are_always_sent(tmp_path: Path) -> None:
    docs = make_tree(tmp_path)
    plan = plan_ingest([docs / "movie.mp4", docs / "empty.txt", tmp_path / "missing.txt"])
    assert [i.header.document_id for i in plan.items] == ["movie.mp4", "empty.txt"]
    assert plan.failures[0].error.code == "IO_ERROR" and "no such file" in plan.failures[0].error.message
    assert plan.failure_positions == [2]


def test_captions_argument_wins_over_sidecar(tmp_path: Path) -> None:
    docs = make_tree(tmp_path)
    plan = plan_ingest(docs / "cat.jpg", captions={docs / "cat.jpg": "A cat, explicitly"})
    assert plan.items[0].header.caption == "A cat, explicitly"
    per_document = plan_ingest(FileDocument(docs / "cat.jpg", caption="mine", document_id="cats/1", tags=["x"]), tags=["y"])
    header = per_document.items[0].header
    assert (header.caption, header.document_id, list(header.tags)) == ("mine", "cats/1", ["y", "x"])


def test_text_image_and_blob_documents() -> None:
    when = datetime(2024, 5, 1, tzinfo=timezone.utc)
    png = io.BytesIO()
    Image.new("RGB", (2, 2)).save(png, format="PNG")
    plan = plan_ingest(
        [
            TextDocument("Opening hours: 9-17", document_id="hours", title="Hours", language="en", valid_at=when),
            ImageDocument(png.getvalue(), caption="a square", document_id="square"),
            ImageDocument(Image.new("RGB", (2, 2)), caption="pil"),
            BlobDocument(b"%PDF-1.4 fake", filename="x.pdf"),
            BlobDocument(io.BytesIO(b"streamed text"), filename="s.txt"),
        ]
    )
    text, image, pil, blob, stream = plan.items
    assert text.header.valid_at.ToDatetime(tzinfo=timezone.utc) == when
    assert text.open().read() == b"Opening hours: 9-17" and text.header.mime_type == "text/plain"
    assert image.header.mime_type == "image/png" and image.header.caption == "a square"
    assert pil.open().read().startswith(b"\x89PNG") and pil.source == "image #2"
    assert blob.header.mime_type == "application/pdf" and blob.size == 13
    assert stream.size == 13 and not stream.close_after and stream.header.mime_type == "text/plain"


def test_image_document_with_bad_bytes_is_a_failure_not_an_exception() -> None:
    plan = plan_ingest([ImageDocument(b"nope", document_id="bad"), TextDocument("ok")])
    assert plan.failures[0].error.code == "INVALID_ARGUMENT"
    assert plan.failure_positions == [0] and plan.items[0].position == 1


@pytest.mark.parametrize("inputs", [b"raw bytes", 42, {"a": 1}, [object()]])
def test_bad_inputs(inputs: object) -> None:
    with pytest.raises(InvalidRequestError):
        plan_ingest(inputs)


def test_document_ids() -> None:
    assert document_id_for("a/b c/d (1).txt") == "a/b c/d _1_.txt"
    assert document_id_for("Ünïcode/文档.md") == "Ünïcode/文档.md"
    assert len(document_id_for("x" * 300)) == 256


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs file permissions (not root)")
def test_unreadable_file_is_a_failure(tmp_path: Path) -> None:
    locked = tmp_path / "locked.txt"
    locked.write_text("x")
    locked.chmod(0)
    try:
        plan = plan_ingest(locked)
    finally:
        locked.chmod(0o600)
    assert plan.failures[0].error.code == "IO_ERROR"
