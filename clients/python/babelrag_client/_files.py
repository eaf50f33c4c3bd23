"""Reading local things to send: ingest inputs (files, folders, documents) and question images.

Blocking disk I/O, the same for both clients: :class:`~babelrag_client.Client` calls it directly,
:class:`~babelrag_client.AsyncClient` in a worker thread, so the event loop never waits on a disk.

Folder walks (:func:`plan_ingest`): files and sub-folders whose name starts with "." are skipped;
so are empty files and files of a type the server cannot ingest (found by magic bytes and
extension, :mod:`babelrag_client._mime`) - a file named explicitly is always sent, the server then
decides. An image's caption comes from, in this order: its :class:`FileDocument`/
:class:`ImageDocument`, the ``captions`` argument, or a sidecar file next to it named
``<image file name>.caption.txt`` (``cat.jpg.caption.txt``), which is then not ingested itself.
Document ids default to the path below the folder given, prefixed with the folder's name
(``docs/guide/intro.md``), or to the file name for a file given directly, with characters the
server does not accept in an id replaced by ``_``; re-ingesting the same id replaces the document.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from babelrag.v1 import ingest_pb2
from babelrag_client import _mime
from babelrag_client._core import IngestPlan, UploadItem, merge_tags, to_timestamp
from babelrag_client.errors import InvalidRequestError
from babelrag_client.types import BlobDocument, FileDocument, ImageDocument, SkippedItem, TextDocument

__all__ = ["CAPTION_SUFFIX", "load_image", "load_images", "plan_ingest", "document_id_for"]

CAPTION_SUFFIX = ".caption.txt"
#: Question images are sent in one message; refuse absurd sizes before reading them whole.
MAX_IMAGE_BYTES = 32 * 1024 * 1024
_ID_CHARS = re.compile(r"[^\w.\-:/@+ ]", re.UNICODE)


# ==================================================================================================
# Question images
def load_images(images: Sequence[Any]) -> list[bytes]:
    return [load_image(image, index) for index, image in enumerate(images)]


def load_image(image: Any, index: int = 0) -> bytes:
    """Encoded image bytes (JPEG, PNG, WebP or GIF) from a path, bytes, a binary file or a PIL image."""
    label = f"image {index}"
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        label = f"image {path!r}"
        try:
            size = os.path.getsize(path)
            if size > MAX_IMAGE_BYTES:
                raise InvalidRequestError(f"{label} is {size} bytes; images over {MAX_IMAGE_BYTES} bytes are not sent")
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise InvalidRequestError(f"cannot read {label}: {exc.strerror or exc}") from None
    elif isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
    elif _is_pil_image(image):
        data = encode_pil(image)
    elif hasattr(image, "read"):
        data = image.read(MAX_IMAGE_BYTES + 1)
        if not isinstance(data, (bytes, bytearray)):
            raise InvalidRequestError(f"{label}: the file object must be opened in binary mode")
        if len(data) > MAX_IMAGE_BYTES:
            raise InvalidRequestError(f"{label} is over {MAX_IMAGE_BYTES} bytes")
        data = bytes(data)
    else:
        raise InvalidRequestError(
            f"{label}: expected a path, bytes, a binary file or a PIL image, not {type(image).__name__}"
        )
    if not data:
        raise InvalidRequestError(f"{label} is empty")
    if _mime.image_type(data) is None:
        raise InvalidRequestError(f"{label} is not a JPEG, PNG, WebP or GIF image")
    return data


def _is_pil_image(value: Any) -> bool:
    return type(value).__module__.startswith("PIL.") and hasattr(value, "save") and hasattr(value, "mode")


def encode_pil(image: Any) -> bytes:
    """PNG bytes of a PIL image (converted to RGB(A) first when PNG cannot hold its mode)."""
    if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
        image = image.convert("RGBA" if "A" in image.mode else "RGB")
    buffer = io.BytesIO()
    try:
        image.save(buffer, format="PNG")
    except (OSError, ValueError) as exc:
        raise InvalidRequestError(f"cannot encode the PIL image as PNG: {exc}") from None
    return buffer.getvalue()


# ==================================================================================================
# Ingest planning
def document_id_for(relative: str) -> str:
    """A document id the server accepts, from a (relative) path: POSIX separators, odd characters as ``_``."""
    cleaned = _ID_CHARS.sub("_", relative.replace(os.sep, "/").strip().strip("/"))
    return cleaned[-256:] if len(cleaned) > 256 else cleaned


class _Defaults:
    def __init__(self, tags: Iterable[str], language: str, valid_at: datetime | None, captions: Mapping[Any, str] | None) -> None:
        if not isinstance(language, str):
            raise InvalidRequestError("language must be a string such as 'de'")
        if valid_at is not None and not isinstance(valid_at, datetime):
            raise InvalidRequestError("valid_at must be a datetime")
        self.tags = merge_tags(tags)
        self.language = language.strip().lower()
        self.valid_at = valid_at
        self.captions: dict[str, str] = {}
        for key, caption in (captions or {}).items():
            if not isinstance(key, (str, os.PathLike)) or not isinstance(caption, str):
                raise InvalidRequestError("captions must map paths to caption strings")
            self.captions[os.path.abspath(os.fspath(key))] = caption

    def header(
        self,
        *,
        document_id: str = "",
        filename: str = "",
        mime_type: str = "",
        title: str = "",
        uri: str = "",
        language: str = "",
        tags: Iterable[str] = (),
        valid_at: datetime | None = None,
        caption: str = "",
    ) -> ingest_pb2.ItemHeader:
        for name, value in (("document_id", document_id), ("title", title), ("uri", uri), ("caption", caption), ("mime_type", mime_type)):
            if not isinstance(value, str):
                raise InvalidRequestError(f"{name} must be a string")
        header = ingest_pb2.ItemHeader(
            document_id=document_id,
            filename=filename,
            mime_type="" if mime_type == _mime.OCTET else mime_type,
            title=title,
            uri=uri,
            language=(language or "").strip().lower() or self.language,
            tags=merge_tags(self.tags, tags),
            caption=caption,
        )
        when = valid_at if valid_at is not None else self.valid_at
        if when is not None:
            header.valid_at.CopyFrom(to_timestamp(when, "valid_at"))
        return header


def plan_ingest(
    inputs: Any,
    *,
    tags: Iterable[str] = (),
    language: str = "",
    valid_at: datetime | None = None,
    captions: Mapping[Any, str] | None = None,
    recursive: bool = True,
) -> IngestPlan:
    """Turn ``ingest``'s inputs into upload items (nothing is read whole; files are opened later)."""
    defaults = _Defaults(tags, language, valid_at, captions)
    plan = IngestPlan()
    for value in _as_list(inputs):
        if isinstance(value, (str, os.PathLike)):
            _plan_path(plan, defaults, Path(os.fspath(value)), recursive=recursive)
        elif isinstance(value, FileDocument):
            _plan_file(plan, defaults, Path(os.fspath(value.path)), explicit=True, document=value)
        elif isinstance(value, TextDocument):
            _plan_text(plan, defaults, value)
        elif isinstance(value, ImageDocument):
            _plan_image(plan, defaults, value)
        elif isinstance(value, BlobDocument):
            _plan_blob(plan, defaults, value)
        else:
            raise InvalidRequestError(
                f"cannot ingest a {type(value).__name__}: give paths, FileDocument, TextDocument, ImageDocument or BlobDocument"
            )
    return plan


def _as_list(inputs: Any) -> list[Any]:
    if isinstance(inputs, (str, os.PathLike, FileDocument, TextDocument, ImageDocument, BlobDocument)):
        return [inputs]
    if isinstance(inputs, (bytes, bytearray, memoryview)):
        raise InvalidRequestError("to ingest raw bytes, wrap them: BlobDocument(content=..., filename=...)")
    if isinstance(inputs, Iterable) and not isinstance(inputs, Mapping):
        return list(inputs)
    raise InvalidRequestError("ingest takes a path, a document, or a list of them")


def _plan_path(plan: IngestPlan, defaults: _Defaults, path: Path, *, recursive: bool) -> None:
    if path.is_dir():
        _plan_folder(plan, defaults, path, recursive=recursive)
    elif path.exists():
        _plan_file(plan, defaults, path, explicit=True)
    else:
        plan.fail(str(path), "IO_ERROR", f"{path}: no such file or folder", filename=path.name)


def _plan_folder(plan: IngestPlan, defaults: _Defaults, root: Path, *, recursive: bool) -> None:
    prefix = root.resolve().name

    def onerror(exc: OSError) -> None:
        where = exc.filename or str(root)
        plan.fail(str(where), "IO_ERROR", f"cannot list {where}: {exc.strerror or exc}")

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=False):
        here = Path(dirpath)
        kept_dirs = []
        for name in sorted(dirnames):
            if name.startswith("."):
                plan.skipped.append(_skip(here / name, "hidden"))
            elif (here / name).is_symlink():
                plan.skipped.append(_skip(here / name, "symbolic link to a folder (not followed)"))
            elif not recursive:
                plan.skipped.append(_skip(here / name, "sub-folder (not recursive)"))
            else:
                kept_dirs.append(name)
        dirnames[:] = kept_dirs
        names = set(filenames)
        for name in sorted(filenames):
            path = here / name
            if name.startswith("."):
                plan.skipped.append(_skip(path, "hidden"))
                continue
            if name.endswith(CAPTION_SUFFIX) and name[: -len(CAPTION_SUFFIX)] in names:
                continue  # a sidecar caption: read with its image
            relative = path.relative_to(root).as_posix()
            document_id = document_id_for(f"{prefix}/{relative}" if prefix else relative)
            _plan_file(plan, defaults, path, explicit=False, document_id=document_id)


def _skip(path: Path, reason: str) -> SkippedItem:
    return SkippedItem(path=str(path), reason=reason)


def _sidecar_caption(path: Path) -> str:
    sidecar = path.with_name(path.name + CAPTION_SUFFIX)
    try:
        return sidecar.read_text(encoding="utf-8-sig").strip()
    except (OSError, UnicodeDecodeError):  # no sidecar, or an unreadable one: no caption
        return ""


def _plan_file(
    plan: IngestPlan,
    defaults: _Defaults,
    path: Path,
    *,
    explicit: bool,
    document: FileDocument | None = None,
    document_id: str = "",
) -> None:
    source = str(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(_mime.SNIFF_BYTES)
    except OSError as exc:
        plan.fail(source, "IO_ERROR", f"cannot read {source}: {exc.strerror or exc}", filename=path.name)
        return
    mime = _mime.detect(head, path.name)
    if not explicit:
        if size == 0:
            plan.skipped.append(_skip(path, "empty file"))
            return
        if not _mime.is_supported(mime):
            plan.skipped.append(_skip(path, f"unsupported type {mime}"))
            return
    document = document or FileDocument(path=path)
    caption = document.caption or defaults.captions.get(os.path.abspath(path), "")
    if not caption and mime in _mime.IMAGE_TYPES:
        caption = _sidecar_caption(path)
    header = defaults.header(
        document_id=document.document_id or document_id or document_id_for(path.name),
        filename=path.name,
        mime_type=document.mime_type or mime,
        title=document.title,
        uri=document.uri,
        language=document.language,
        tags=document.tags,
        valid_at=document.valid_at,
        caption=caption,
    )
    plan.items.append(
        UploadItem(position=plan.next_position(), source=source, header=header, open=_file_opener(path), size=size)
    )


def _file_opener(path: Path) -> Any:
    def opener() -> IO[bytes]:
        return open(path, "rb")

    return opener


def _bytes_opener(data: bytes) -> Any:
    def opener() -> IO[bytes]:
        return io.BytesIO(data)

    return opener


def _plan_text(plan: IngestPlan, defaults: _Defaults, document: TextDocument) -> None:
    if not isinstance(document.text, str):
        raise InvalidRequestError("TextDocument.text must be a string")
    data = document.text.encode("utf-8")
    position = plan.next_position()
    header = defaults.header(
        document_id=document.document_id,
        mime_type=document.mime_type or "text/plain",
        title=document.title,
        uri=document.uri,
        language=document.language,
        tags=document.tags,
        valid_at=document.valid_at,
    )
    source = document.document_id or document.title or f"text #{position}"
    plan.items.append(UploadItem(position=position, source=source, header=header, open=_bytes_opener(data), size=len(data)))


def _plan_image(plan: IngestPlan, defaults: _Defaults, document: ImageDocument) -> None:
    image = document.image
    if isinstance(image, (str, os.PathLike)):
        path = Path(os.fspath(image))
        file_document = FileDocument(
            path=path,
            document_id=document.document_id,
            title=document.title,
            uri=document.uri,
            language=document.language,
            tags=document.tags,
            valid_at=document.valid_at,
            caption=document.caption,
        )
        if not path.is_file():
            plan.fail(str(path), "IO_ERROR", f"{path}: no such file", filename=path.name)
            return
        _plan_file(plan, defaults, path, explicit=True, document=file_document)
        return
    source = document.document_id or document.title or f"image #{plan.count}"
    header = defaults.header(
        document_id=document.document_id,
        title=document.title,
        uri=document.uri,
        language=document.language,
        tags=document.tags,
        valid_at=document.valid_at,
        caption=document.caption,
    )
    size: int | None = None
    close_after = True
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        mime = _mime.image_type(data)
        if mime is None:
            plan.fail(source, "INVALID_ARGUMENT", f"{source} is not a JPEG, PNG, WebP or GIF image")
            return
        header.mime_type, opener, size = mime, _bytes_opener(data), len(data)
    elif _is_pil_image(image):
        header.mime_type, opener = "image/png", _pil_opener(image)
    elif hasattr(image, "read"):
        opener, close_after = _stream_opener(image), False
    else:
        raise InvalidRequestError(
            f"ImageDocument.image must be a path, bytes, a binary file or a PIL image, not {type(image).__name__}"
        )
    plan.items.append(
        UploadItem(
            position=plan.next_position(), source=source, header=header, open=opener, size=size, close_after=close_after
        )
    )


def _stream_opener(stream: IO[bytes]) -> Any:
    def opener() -> IO[bytes]:
        return stream

    return opener


def _pil_opener(image: Any) -> Any:
    def opener() -> IO[bytes]:
        return io.BytesIO(encode_pil(image))

    return opener


def _plan_blob(plan: IngestPlan, defaults: _Defaults, document: BlobDocument) -> None:
    content = document.content
    position = plan.next_position()
    source = document.document_id or document.filename or f"item #{position}"
    size = document.size
    if isinstance(content, (bytes, bytearray, memoryview)):
        data = bytes(content)
        head, opener, close_after, size = data[: _mime.SNIFF_BYTES], _bytes_opener(data), True, len(data)
    elif hasattr(content, "read"):
        head = b""
        if _seekable(content):
            start = content.tell()
            head = content.read(_mime.SNIFF_BYTES) or b""
            content.seek(start)
            if size is None:
                size = content.seek(0, io.SEEK_END) - start
                content.seek(start)
        opener, close_after = _stream_opener(content), False
    else:
        raise InvalidRequestError(f"BlobDocument.content must be bytes or a binary stream, not {type(content).__name__}")
    mime = document.mime_type or (_mime.detect(head, document.filename) if head else (_mime.extension_type(document.filename) or ""))
    header = defaults.header(
        document_id=document.document_id,
        filename=document.filename,
        mime_type=mime,
        title=document.title,
        uri=document.uri,
        language=document.language,
        tags=document.tags,
        valid_at=document.valid_at,
        caption=document.caption,
    )
    plan.items.append(
        UploadItem(position=position, source=source, header=header, open=opener, size=size, close_after=close_after)
    )


def _seekable(stream: Any) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False
