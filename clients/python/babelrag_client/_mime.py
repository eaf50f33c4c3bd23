"""File type detection for uploads: magic bytes first, then the extension, then a look at the content.

The server sniffs types itself; the client detects them to (1) declare ``mime_type`` on each item,
(2) skip files a folder walk finds that the server cannot ingest (a video or an archive in a folder
of notes would otherwise be uploaded only to be refused), and (3) check that an image given to
``ask``/``search`` is one the server decodes (JPEG, PNG, WebP, GIF). The rules follow the server's
(``babelrag.text.parsing``): magic bytes of a binary format win over the extension, a known text
extension wins over a look at the content, and decodable text without a known extension is plain text.
No I/O here: callers pass the first bytes (:data:`SNIFF_BYTES`) of the content.
"""

from __future__ import annotations

import codecs
import re
from pathlib import PurePath

__all__ = [
    "IMAGE_TYPES",
    "SNIFF_BYTES",
    "detect",
    "image_type",
    "is_supported",
    "extension_type",
]

SNIFF_BYTES = 4096
OCTET = "application/octet-stream"
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
_TEXT_LIKE = frozenset(
    {"application/json", "application/x-ndjson", "application/yaml", "application/x-yaml", "application/xhtml+xml"}
)
SUPPORTED_BINARY = frozenset({"application/pdf", *IMAGE_TYPES})

_EXTENSIONS = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".log": "text/plain",
    ".rst": "text/plain",
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
    ".ndjson": "application/x-ndjson",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".xml": "text/xml",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".mdown": "text/markdown",
    ".mkd": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".xhtml": "application/xhtml+xml",
    ".pdf": "application/pdf",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".heic": "image/heic",
    ".svg": "image/svg+xml",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".epub": "application/epub+zip",
    ".doc": "application/msword",
    ".zip": "application/zip",
    ".gz": "application/gzip",
    ".tar": "application/x-tar",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
}

# Magic numbers that establish a binary type beyond doubt (checked at offset 0).
_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", None),  # bitmap: only with a .bmp extension, "BM" starts ordinary text too
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (b"\x7fELF", "application/x-executable"),
    (b"ID3", "audio/mpeg"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
)
_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_HTML_RE = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>]|head[\s>])", re.I | re.S)


def extension_type(filename: str | None) -> str | None:
    """The type the file name's extension stands for, or None."""
    if not filename:
        return None
    return _EXTENSIONS.get(PurePath(filename).suffix.lower())


def _magic_type(head: bytes) -> str | None:
    if b"%PDF-" in head[:1024]:
        return "application/pdf"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] in (b"WAVE", b"AVI "):
        return "audio/wav" if head[8:12] == b"WAVE" else "video/x-msvideo"
    if head[4:8] == b"ftyp":
        return "video/mp4"
    for magic, mime in _MAGIC:
        if mime is not None and head.startswith(magic):
            return mime
    return None


def _looks_binary(head: bytes) -> bool:
    """NUL bytes outside a UTF-16/32 text mean binary data."""
    if any(head.startswith(bom) for bom in _BOMS):
        return False
    sample = head[:SNIFF_BYTES]
    if b"\x00" not in sample:
        return False
    if len(sample) >= 8:
        even, odd = sample[0::2], sample[1::2]
        if odd.count(0) >= 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
            return False  # UTF-16-LE without a BOM
        if even.count(0) >= 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
            return False  # UTF-16-BE without a BOM
    return True


def detect(head: bytes, filename: str | None = None) -> str:
    """The MIME type of content starting with ``head`` (its first bytes) named ``filename``.

    ``application/octet-stream`` for binary data of no known type.
    """
    magic = _magic_type(head)
    ext = extension_type(filename)
    if magic == "application/zip" and ext and (ext.startswith("application/vnd.") or ext.endswith("+zip")):
        return ext  # Office and EPUB files are ZIP archives
    if magic is not None:
        return magic
    if _looks_binary(head):
        return ext if ext and not _is_textual(ext) else OCTET
    if ext is not None:
        return ext
    if _HTML_RE.match(head):
        return "text/html"
    return "text/plain"


def _is_textual(mime: str) -> bool:
    return mime.startswith("text/") or mime in _TEXT_LIKE


def is_supported(mime: str) -> bool:
    """Whether the server ingests this type (text, Markdown, HTML, PDF, JSON/YAML, the four images)."""
    return _is_textual(mime) or mime in SUPPORTED_BINARY


def image_type(data: bytes) -> str | None:
    """``image/jpeg``/``png``/``webp``/``gif`` when ``data`` is such an image (by its magic), else None."""
    mime = _magic_type(data[:16])
    return mime if mime in IMAGE_TYPES else None
