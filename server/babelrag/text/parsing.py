"""Document bytes -> plain text and title, for ingestion.

Supported: plain text, Markdown, HTML and PDF (its text layer, via pypdf). Images are recognised
by :func:`sniff_mime` so the gateway can route them to the image pipeline, but are not parsed
here.

Errors (one family; the gateway maps the base class to INVALID_ARGUMENT)::

    DocumentError                    base of everything raised here
    ├── UnsupportedDocumentType      a type this module does not parse (images, archives, ...)
    └── DocumentParseError           a supported type that could not be read
        ├── EmptyDocumentError       no bytes, or no text after parsing
        ├── EncryptedDocumentError   a PDF that needs a password
        └── NoTextLayerError         a PDF whose pages have no text ("scanned PDF?")

Type resolution (:func:`resolve_mime`): magic bytes that identify a binary format (PDF, images,
archives) win over what the client declared, since a declared type is often just the extension's
guess; otherwise a specific declared type wins; otherwise the file extension, then a look at the
content (an HTML doctype or tag) decide, and decodable text is plain text.

Text decoding: a byte-order mark (UTF-8, UTF-16, UTF-32) wins; then a charset given with the MIME
type ("text/plain; charset=gb18030"), for HTML a ``<meta charset>``, then strict UTF-8, then
BOM-less UTF-16 recognised by its zero bytes. Anything else is decoded as windows-1252 (Latin-1
where that fails) and the result says so in ``encoding`` and ``warnings``: legacy CJK encodings
cannot be told apart reliably without a charset, so clients must name them.

All returned text is normalised the same way: newlines as ``\\n``, NUL, BOM and other control
characters (except tab) removed, Unicode NFC, trailing spaces stripped, at most one blank line in
a row. Offsets in ``ParsedDocument.pages`` refer to this text, as do chunk offsets computed from it.
"""

from __future__ import annotations

import codecs
import html
import io
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import PurePath

__all__ = [
    "DocumentError",
    "DocumentParseError",
    "EmptyDocumentError",
    "EncryptedDocumentError",
    "NoTextLayerError",
    "PageSpan",
    "ParsedDocument",
    "SUPPORTED_DOCUMENT_TYPES",
    "UnsupportedDocumentType",
    "parse_document",
    "resolve_mime",
    "sniff_mime",
]

_log = logging.getLogger(__name__)

MIME_TEXT = "text/plain"
MIME_MARKDOWN = "text/markdown"
MIME_HTML = "text/html"
MIME_PDF = "application/pdf"
MIME_OCTET = "application/octet-stream"

#: The types :func:`parse_document` turns into text.
SUPPORTED_DOCUMENT_TYPES = (MIME_TEXT, MIME_MARKDOWN, MIME_HTML, MIME_PDF)
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")


# --------------------------------------------------------------------------------------------------
# Errors


class DocumentError(Exception):
    """Base class of every error this module raises; ``mime_type`` is the resolved type."""

    def __init__(self, message: str, *, mime_type: str | None = None) -> None:
        super().__init__(message)
        self.mime_type = mime_type


class UnsupportedDocumentType(DocumentError):
    """The document's type is not one this module parses."""


class DocumentParseError(DocumentError):
    """The document claims a supported type but cannot be read (corrupt, truncated, binary)."""


class EmptyDocumentError(DocumentParseError):
    """No bytes, or no text once parsed."""


class EncryptedDocumentError(DocumentParseError):
    """The PDF is encrypted with a user password."""


class NoTextLayerError(DocumentParseError):
    """The PDF has pages but no extractable text: scanned images, most likely."""


# --------------------------------------------------------------------------------------------------
# Result


@dataclass(frozen=True, slots=True)
class PageSpan:
    """Page ``number`` (1-based) is ``text[start:end]`` of its document (start == end: no text)."""

    number: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """Plain text of a document, with what is known about it.

    ``title`` comes from the format (Markdown front matter or first heading, HTML ``<title>`` or
    first ``<h1>``, PDF metadata), else from the file name without extension, else None.
    ``encoding`` is the text encoding used (None for PDF); ``pages`` is set for PDF only;
    ``warnings`` lists recoverable problems (a guessed encoding, pages without text, a declared
    type that the content contradicted).
    """

    text: str
    title: str | None
    mime_type: str
    encoding: str | None = None
    pages: tuple[PageSpan, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    def page_at(self, offset: int) -> int | None:
        """Number of the page holding character ``offset``; None without pages or out of range."""
        for page in self.pages:
            if page.start <= offset < page.end:
                return page.number
        return None


# --------------------------------------------------------------------------------------------------
# MIME sniffing

_EXTENSIONS = {
    ".txt": MIME_TEXT,
    ".text": MIME_TEXT,
    ".log": MIME_TEXT,
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".json": "application/json",
    ".md": MIME_MARKDOWN,
    ".markdown": MIME_MARKDOWN,
    ".mdown": MIME_MARKDOWN,
    ".mkd": MIME_MARKDOWN,
    ".html": MIME_HTML,
    ".htm": MIME_HTML,
    ".xhtml": "application/xhtml+xml",
    ".pdf": MIME_PDF,
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".epub": "application/epub+zip",
    ".doc": "application/msword",
    ".zip": "application/zip",
}

# Types the magic bytes establish beyond doubt: they override a declared type.
_BINARY_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
)
_STRONG_TYPES = frozenset(
    {MIME_PDF, *IMAGE_TYPES, "application/zip", "application/gzip", "application/x-ole-storage"}
)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE, whose BOM is its prefix
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_HTML_START_RE = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>]|head[\s>])", re.I | re.S
)
_HTML_TAGS_RE = re.compile(rb"<(?:body|head|title|div|p|meta|h1)[\s>]", re.I)


def _extension_type(filename: str | None) -> str | None:
    if not filename:
        return None
    return _EXTENSIONS.get(PurePath(filename).suffix.lower())


def _bom(data: bytes) -> tuple[str, int] | None:
    for mark, codec in _BOMS:
        if data.startswith(mark):
            return codec, len(mark)
    return None


def _utf16_without_bom(sample: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' if ``sample`` looks like BOM-less UTF-16 text (many zero bytes)."""
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) >= 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) >= 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def sniff_mime(data: bytes, filename: str | None = None) -> str:
    """The MIME type of ``data`` from its magic bytes, its file name and a look at its content.

    Recognises PDF, JPEG, PNG, WebP, GIF, ZIP (and the Office/EPUB formats inside one, by
    extension), gzip, OLE (old Office files), HTML, Markdown (by extension) and plain text.
    Returns ``"application/octet-stream"`` for binary data it does not know.
    """
    head = data[:1024]
    if b"%PDF-" in head:  # the header may follow some junk within the first 1024 bytes
        return MIME_PDF
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for magic, mime in _BINARY_MAGIC:
        if data.startswith(magic):
            if mime == "application/zip":
                ext = _extension_type(filename)
                if ext and (ext.startswith("application/vnd.") or ext == "application/epub+zip"):
                    return ext
            return mime
    bom = _bom(data)
    sample = data[:4096]
    if bom is None and b"\x00" in sample and _utf16_without_bom(sample) is None:
        return MIME_OCTET
    ext = _extension_type(filename)
    if ext is not None and not (ext in _STRONG_TYPES or ext.startswith("application/vnd.")):
        return ext
    if bom is not None or (encoding := _utf16_without_bom(sample)) is not None:
        codec = bom[0] if bom else encoding
        probe = sample[bom[1] if bom else 0 :].decode(codec or "utf-8", errors="ignore")
        probe_bytes = probe.encode("utf-8", errors="ignore")
    else:
        probe_bytes = sample
    if _HTML_START_RE.match(probe_bytes) or len(_HTML_TAGS_RE.findall(probe_bytes)) >= 2:
        return MIME_HTML
    if ext is not None:  # a binary extension on data without its magic: still say so
        return ext
    return MIME_TEXT


def _split_mime(mime_type: str | None) -> tuple[str | None, str | None]:
    """('type/subtype' lower-cased, charset or None) from a Content-Type value."""
    if not mime_type:
        return None, None
    parts = [p.strip() for p in mime_type.split(";")]
    base = parts[0].lower() or None
    charset = None
    for param in parts[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip("\"'")
    return base, charset


_GENERIC_TYPES = frozenset(
    {MIME_OCTET, "binary/octet-stream", "application/unknown", "application/x-empty", "*/*"}
)
_TYPE_ALIASES = {
    "text/x-markdown": MIME_MARKDOWN,
    "text/md": MIME_MARKDOWN,
    "application/xhtml+xml": MIME_HTML,
    "application/x-pdf": MIME_PDF,
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
}


def resolve_mime(
    data: bytes, mime_type: str | None = None, filename: str | None = None
) -> tuple[str, list[str]]:
    """(effective MIME type, warnings) following the rules in the module docstring."""
    declared, _ = _split_mime(mime_type)
    declared = _TYPE_ALIASES.get(declared or "", declared)
    sniffed = _TYPE_ALIASES.get(sniffed_raw := sniff_mime(data, filename), sniffed_raw)
    warnings: list[str] = []
    if sniffed in _STRONG_TYPES or sniffed.startswith("application/vnd."):
        if declared and declared not in _GENERIC_TYPES and declared != sniffed:
            warnings.append(f"declared type {declared} but the content is {sniffed}")
        return sniffed, warnings
    if declared and declared not in _GENERIC_TYPES:
        return declared, warnings
    return sniffed, warnings


# --------------------------------------------------------------------------------------------------
# Text decoding and normalisation

_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f\ufeff\ufffe]")
_TRAILING_WS_RE = re.compile(r"[ \t\u00a0\u3000]+\n")
_BLANK_LINES_RE = re.compile(r"\n{3,}")


def _normalize(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u2029", "\n\n").replace("\u2028", "\n").replace("\f", "\n")
    text = text.replace("\v", "\n").replace("\x85", "\n")
    text = _CONTROL_RE.sub("", text)
    text = unicodedata.normalize("NFC", text)
    text = _TRAILING_WS_RE.sub("\n", text + "\n")
    text = _BLANK_LINES_RE.sub("\n\n", text)
    return text.strip("\n").rstrip()


def _codec_name(label: str | None) -> str | None:
    if not label:
        return None
    try:
        return codecs.lookup(label.strip()).name
    except LookupError:
        return None


def _decode(
    data: bytes, *, charsets: tuple[str | None, ...] = (), mime: str
) -> tuple[str, str, list[str]]:
    """(text, encoding, warnings) following the decoding rules in the module docstring."""
    warnings: list[str] = []
    bom = _bom(data)
    if bom is not None:
        codec, skip = bom
        try:
            return data[skip:].decode(codec), codec, warnings
        except UnicodeDecodeError as exc:
            raise DocumentParseError(
                f"text has a {codec} byte-order mark but is not valid {codec}: {exc.reason}",
                mime_type=mime,
            ) from None
    for label in charsets:
        if not label:
            continue
        codec = _codec_name(label)
        if codec is None:
            warnings.append(f"unknown charset {label!r} ignored")
            continue
        try:
            return data.decode(codec), codec, warnings
        except UnicodeDecodeError:
            warnings.append(f"content is not valid {codec} as declared; guessing")
    try:
        return data.decode("utf-8"), "utf-8", warnings
    except UnicodeDecodeError:
        pass
    utf16 = _utf16_without_bom(data[:4096])
    if utf16 is not None:
        try:
            return data.decode(utf16), utf16, warnings
        except UnicodeDecodeError:
            pass
    if b"\x00" in data[:4096]:
        raise DocumentParseError("binary data, not text", mime_type=mime)
    try:
        text, codec = data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        text, codec = data.decode("latin-1"), "latin-1"
    warnings.append(f"not valid UTF-8 and no charset given; decoded as {codec} (a guess)")
    return text, codec, warnings


# --------------------------------------------------------------------------------------------------
# Markdown

_FRONT_MATTER_TITLE_RE = re.compile(r"^title\s*[:=]\s*(.+?)\s*$", re.I)
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX_RE = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_RE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_HR_RE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_REF_DEF_RE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*\S+")
_TABLE_SEP_RE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
_QUOTE_RE = re.compile(r"^ {0,3}(?:>[ \t]?)+")
_LIST_RE = re.compile(r"^(\s*)(?:[-*+]|\d{1,9}[.)])[ \t]+(?:\[[ xX]\][ \t]+)?")
_HTML_COMMENT_RE = re.compile(r"<!--.*?-->", re.S)

_ESCAPE_RE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~<])")
_CODE_SPAN_RE = re.compile(r"(`+)(.+?)\1", re.S)
_IMAGE_RE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK_RE = re.compile(r"\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)")
_REF_LINK_RE = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_FOOTNOTE_RE = re.compile(r"\[\^[^\]]+\]")
_AUTOLINK_RE = re.compile(r"<((?:https?|ftp)://[^>\s]+|mailto:[^>\s]+|[^>\s@]+@[^>\s]+)>")
_INLINE_TAG_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_STRONG_RE = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EM_STAR_RE = re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])")
_EM_UNDERSCORE_RE = re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])")
_STRIKE_RE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_PLACEHOLDER_RE = re.compile("\ue000(\\d+)\ue001")


def _md_inline(line: str) -> str:
    """Markdown inline syntax removed from one line; code spans and escapes kept literally."""
    saved: list[str] = []
    line = line.replace("\ue000", "").replace("\ue001", "")  # our placeholder delimiters

    def stash(s: str) -> str:
        saved.append(s)
        return f"\ue000{len(saved) - 1}\ue001"

    line = _ESCAPE_RE.sub(lambda m: stash(m.group(1)), line)
    line = _CODE_SPAN_RE.sub(lambda m: stash(m.group(2).strip()), line)
    line = _AUTOLINK_RE.sub(lambda m: stash(m.group(1).removeprefix("mailto:")), line)
    line = _IMAGE_RE.sub(r"\1", line)
    line = _LINK_RE.sub(r"\1", line)
    line = _REF_LINK_RE.sub(r"\1", line)
    line = _FOOTNOTE_RE.sub("", line)
    line = _INLINE_TAG_RE.sub("", line)
    for _ in range(2):  # nested emphasis: ***x***, **_x_**
        line = _STRONG_RE.sub(r"\2", line)
        line = _EM_STAR_RE.sub(r"\1", line)
        line = _EM_UNDERSCORE_RE.sub(r"\1", line)
        line = _STRIKE_RE.sub(r"\1", line)
    line = html.unescape(line)
    for _ in range(3):  # restore; a stashed text may itself hold a placeholder (escape in code)
        if not _PLACEHOLDER_RE.search(line):
            break
        line = _PLACEHOLDER_RE.sub(
            lambda m: saved[int(m.group(1))] if int(m.group(1)) < len(saved) else "", line
        )
    return line


def _markdown_to_text(source: str) -> tuple[str, str | None]:
    lines = source.split("\n")
    title: str | None = None

    # Front matter: YAML between --- lines or TOML between +++ lines, at the very start.
    if lines and lines[0].strip() in ("---", "+++"):
        closer = ("---", "...") if lines[0].strip() == "---" else ("+++",)
        for i in range(1, min(len(lines), 200)):
            if lines[i].strip() in closer:
                for fm in lines[1:i]:
                    m = _FRONT_MATTER_TITLE_RE.match(fm.strip())
                    if m and title is None:
                        title = m.group(1).strip().strip("\"'") or None
                lines = lines[i + 1 :]
                break

    body = _HTML_COMMENT_RE.sub("", "\n".join(lines)).split("\n")
    out: list[str] = []
    heading_seen = False
    fence: str | None = None
    prev_paragraph = False  # the last emitted line is paragraph text (a setext heading candidate)
    for raw in body:
        if fence is not None:
            m = _FENCE_RE.match(raw)
            if (
                m
                and m.group(1)[0] == fence[0]
                and len(m.group(1)) >= len(fence)
                and not raw.strip()[len(m.group(1)) :].strip()
            ):
                fence = None
                out.append("")
            else:
                out.append(raw)
            prev_paragraph = False
            continue
        m = _FENCE_RE.match(raw)
        if m:
            fence = m.group(1)
            out.append("")
            prev_paragraph = False
            continue
        if not raw.strip():
            out.append("")
            prev_paragraph = False
            continue
        m = _SETEXT_RE.match(raw)
        if m and prev_paragraph:
            heading = out[-1].strip()
            out.insert(len(out) - 1, "")
            out.append("")
            if title is None and not heading_seen:
                title = heading or None
            heading_seen = True
            prev_paragraph = False
            continue
        if _HR_RE.match(raw) or _REF_DEF_RE.match(raw) or _TABLE_SEP_RE.match(raw):
            out.append("")
            prev_paragraph = False
            continue
        m = _ATX_RE.match(raw)
        if m:
            heading = _md_inline((m.group(2) or "").strip())
            if title is None and not heading_seen and heading:
                title = heading
            heading_seen = True
            out.extend(["", heading, ""])
            prev_paragraph = False
            continue
        line = _QUOTE_RE.sub("", raw)
        line = _LIST_RE.sub(r"\1", line)
        stripped = line.strip()
        if stripped.startswith("|") or (stripped.count("|") >= 2 and not line.startswith("    ")):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", stripped.strip("|"))]
            line = "\t".join(_md_inline(c) for c in cells)
            out.append(line)
            prev_paragraph = False
            continue
        out.append(_md_inline(line))
        prev_paragraph = True
    return "\n".join(out), title


# --------------------------------------------------------------------------------------------------
# HTML

_SKIP_TAGS = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "nav",
        "svg",
        "iframe",
        "object",
        "canvas",
        "select",
    }
)
_VOID_TAGS = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)
_PARAGRAPH_TAGS = frozenset(
    {
        "p",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "table",
        "ul",
        "ol",
        "dl",
        "section",
        "article",
        "header",
        "footer",
        "main",
        "aside",
        "figure",
        "form",
        "fieldset",
        "details",
        "address",
        "hr",
        "body",
    }
)
_LINE_TAGS = frozenset(
    {
        "div",
        "li",
        "tr",
        "dt",
        "dd",
        "figcaption",
        "caption",
        "summary",
        "legend",
        "option",
        "thead",
        "tbody",
        "tfoot",
    }
)
_CELL_TAGS = frozenset({"td", "th"})
_HTML_WS_RE = re.compile(r"[ \t\n\r\f]+")
_META_CHARSET_RE = re.compile(rb"<meta[^>]+?charset\s*=\s*[\"']?\s*([A-Za-z0-9_:.+-]+)", re.I)
_PARA_MARK = "\ue010"
_LINE_MARK = "\ue011"
_BR_MARK = "\ue012"
_CELL_MARK = "\ue013"
_MARKS = frozenset({_PARA_MARK, _LINE_MARK, _BR_MARK, _CELL_MARK})
_MARK_RUN_RE = re.compile(
    f"[ ]*[{_PARA_MARK}{_LINE_MARK}{_BR_MARK}](?:[ ]*[{_PARA_MARK}{_LINE_MARK}{_BR_MARK}])*"
)
_STRIP_MARKS = str.maketrans(dict.fromkeys(map(ord, _MARKS)))  # the same characters in input
_LEADING_CELLS_RE = re.compile(f"(?m)^{_CELL_MARK}+")
_CELLS_RE = re.compile(f"[ ]*{_CELL_MARK}+")


def _mark_run(m: re.Match[str]) -> str:
    run = m.group(0)
    if _PARA_MARK in run:
        return "\n\n"
    return "\n" * max(1, min(2, run.count(_BR_MARK)))


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip: list[str] = []
        self.pre = 0
        self.title_parts: list[str] | None = None
        self.title: str | None = None
        self.h1_parts: list[str] | None = None
        self.h1: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skip:
            if tag not in _VOID_TAGS:
                self.skip.append(tag)
            return
        attr = dict(attrs)
        hidden = "hidden" in attr or (attr.get("aria-hidden") or "").lower() == "true"
        if (tag in _SKIP_TAGS or hidden) and tag not in _VOID_TAGS:
            self.skip.append(tag)
            return
        if tag == "title" and self.title is None:
            self.title_parts = []
        elif tag == "h1" and self.h1 is None:
            self.h1_parts = []
        if tag == "pre":
            self.pre += 1
        self._block(tag, start=True)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self.skip:
            self._block(tag, start=True)

    def handle_endtag(self, tag: str) -> None:
        if self.skip:
            if tag in self.skip:
                while self.skip.pop() != tag:
                    pass
            return
        if tag == "title" and self.title_parts is not None:
            self.title = _HTML_WS_RE.sub(" ", "".join(self.title_parts)).strip() or None
            self.title_parts = None
            return
        if tag == "h1" and self.h1_parts is not None:
            self.h1 = _HTML_WS_RE.sub(" ", "".join(self.h1_parts)).strip() or None
            self.h1_parts = None
        if tag == "pre" and self.pre:
            self.pre -= 1
        self._block(tag, start=False)

    def _block(self, tag: str, *, start: bool) -> None:
        if tag == "br":
            self.parts.append(_BR_MARK)
        elif tag in _PARAGRAPH_TAGS:
            self.parts.append(_PARA_MARK)
        elif tag in _LINE_TAGS:
            self.parts.append(_LINE_MARK)
        elif tag in _CELL_TAGS and start:  # only a cell's start separates it from the previous
            self.parts.append(_CELL_MARK)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.title_parts is not None:
            self.title_parts.append(data)
            return  # the title is metadata, not body text
        if self.h1_parts is not None:
            self.h1_parts.append(data)
        data = data.translate(_STRIP_MARKS)
        if self.pre:
            self.parts.append(data)
            return
        data = _HTML_WS_RE.sub(" ", data)
        if not self.parts or self.parts[-1] in _MARKS:  # at the start of a line or cell
            data = data.lstrip(" ")
        if data:
            self.parts.append(data)

    def text(self) -> str:
        """Body text: a run of block marks with a paragraph mark becomes a blank line; any other
        run one line break, or as many as it holds <br>s (at most two)."""
        raw = "".join(self.parts)
        raw = _MARK_RUN_RE.sub(_mark_run, raw)
        raw = _LEADING_CELLS_RE.sub("", raw)
        return _CELLS_RE.sub("\t", raw)


def _html_to_text(source: str) -> tuple[str, str | None]:
    parser = _TextExtractor()
    parser.feed(source)
    parser.close()
    if parser.title_parts is not None:  # unclosed <title>
        parser.title = _HTML_WS_RE.sub(" ", "".join(parser.title_parts)).strip() or None
    if parser.h1_parts is not None:
        parser.h1 = _HTML_WS_RE.sub(" ", "".join(parser.h1_parts)).strip() or None
    return parser.text(), parser.title or parser.h1


# --------------------------------------------------------------------------------------------------
# PDF

_PDF_TITLE_JUNK_RE = re.compile(r"^(?:microsoft (?:word|powerpoint) - |untitled\b)", re.I)


def _parse_pdf(data: bytes) -> tuple[list[str], str | None, list[str]]:
    """(per-page text, metadata title, warnings)."""
    try:
        import pypdf
        from pypdf.errors import DependencyError, FileNotDecryptedError
    except ImportError as exc:  # pragma: no cover - pypdf is a declared dependency
        raise UnsupportedDocumentType("PDF support needs pypdf", mime_type=MIME_PDF) from exc

    warnings: list[str] = []
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                decrypted = reader.decrypt("")  # owner-password-only PDFs open with ""
            except DependencyError as exc:
                raise EncryptedDocumentError(
                    f"encrypted PDF that needs an extra package to open: {exc}", mime_type=MIME_PDF
                ) from None
            if not decrypted:
                raise EncryptedDocumentError(
                    "encrypted PDF: a password is required", mime_type=MIME_PDF
                )
        pages = reader.pages
        n_pages = len(pages)
    except DocumentError:
        raise
    except FileNotDecryptedError:
        raise EncryptedDocumentError(
            "encrypted PDF: a password is required", mime_type=MIME_PDF
        ) from None
    except Exception as exc:  # noqa: BLE001 - pypdf raises many kinds of error on corrupt input
        detail = str(exc) or type(exc).__name__
        raise DocumentParseError(f"corrupt PDF: {detail}", mime_type=MIME_PDF) from None

    if n_pages == 0:
        raise EmptyDocumentError("PDF has no pages", mime_type=MIME_PDF)

    texts: list[str] = []
    failed: list[int] = []
    for number in range(1, n_pages + 1):
        try:
            texts.append(pages[number - 1].extract_text() or "")
        except FileNotDecryptedError:
            raise EncryptedDocumentError(
                "encrypted PDF: a password is required", mime_type=MIME_PDF
            ) from None
        except Exception as exc:  # noqa: BLE001 - one broken page must not lose the document
            _log.warning("PDF page %d: text extraction failed: %s", number, exc)
            failed.append(number)
            texts.append("")
    if failed:
        warnings.append(f"text extraction failed on page(s) {_page_list(failed)}")

    title = None
    try:
        meta_title = reader.metadata.title if reader.metadata else None
    except Exception:  # noqa: BLE001 - broken metadata is not worth failing the document for
        meta_title = None
    if isinstance(meta_title, str):
        meta_title = " ".join(meta_title.split())
        if meta_title and not _PDF_TITLE_JUNK_RE.match(meta_title):
            title = meta_title
    return texts, title, warnings


def _page_list(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:20])) + (
        f" and {len(numbers) - 20} more" if len(numbers) > 20 else ""
    )


# --------------------------------------------------------------------------------------------------
# Entry point

_TEXT_LIKE = frozenset(
    {"application/json", "application/x-ndjson", "application/yaml", "application/x-yaml"}
)


def parse_document(
    data: bytes, mime_type: str | None = None, filename: str | None = None
) -> ParsedDocument:
    """Parse ``data`` into a :class:`ParsedDocument`.

    ``mime_type`` is the client's Content-Type (parameters such as ``charset`` are honoured) and
    may be None; ``filename`` is used for its extension and as the title of last resort. Raises a
    :class:`DocumentError` subclass for unsupported, corrupt, encrypted or empty input.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, not {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise EmptyDocumentError("empty document (0 bytes)", mime_type=mime_type)
    _, declared_charset = _split_mime(mime_type)
    mime, warnings = resolve_mime(data, mime_type, filename)

    encoding: str | None = None
    pages: tuple[PageSpan, ...] = ()
    if mime == MIME_PDF:
        page_texts, title, pdf_warnings = _parse_pdf(data)
        warnings.extend(pdf_warnings)
        parts: list[str] = []
        spans: list[PageSpan] = []
        offset = 0
        for number, page_text in enumerate(page_texts, start=1):
            page_text = _normalize(page_text)
            if parts and page_text:
                offset += 2  # the "\n\n" joining it to the text before
            if page_text:
                parts.append(page_text)
            spans.append(PageSpan(number, offset, offset + len(page_text)))
            offset += len(page_text)
        text = "\n\n".join(parts)
        if not text.strip():
            raise NoTextLayerError(
                f"PDF has {len(page_texts)} page(s) but no text layer (scanned PDF?)",
                mime_type=MIME_PDF,
            )
        empty = [s.number for s in spans if s.start == s.end]
        if empty:
            warnings.append(f"no text on page(s) {_page_list(empty)} (scanned?)")
        pages = tuple(spans)
    elif mime == MIME_HTML:
        meta = _META_CHARSET_RE.search(data[:4096])
        source, encoding, dec_warnings = _decode(
            data,
            charsets=(declared_charset, meta.group(1).decode("ascii") if meta else None),
            mime=mime,
        )
        warnings.extend(dec_warnings)
        body, title = _html_to_text(source)
        text = _normalize(body)
    elif mime == MIME_MARKDOWN:
        source, encoding, dec_warnings = _decode(data, charsets=(declared_charset,), mime=mime)
        warnings.extend(dec_warnings)
        body, title = _markdown_to_text(_normalize(source))
        text = _normalize(body)
    elif mime.startswith("text/") or mime in _TEXT_LIKE:
        source, encoding, dec_warnings = _decode(data, charsets=(declared_charset,), mime=mime)
        warnings.extend(dec_warnings)
        text, title = _normalize(source), None
    elif mime.startswith("image/"):
        raise UnsupportedDocumentType(
            f"{mime} is an image: images go to the image pipeline, not the document parser",
            mime_type=mime,
        )
    else:
        raise UnsupportedDocumentType(
            f"unsupported document type {mime}; supported: {', '.join(SUPPORTED_DOCUMENT_TYPES)}",
            mime_type=mime,
        )

    if not text:
        raise EmptyDocumentError(f"no text found in the {mime} document", mime_type=mime)
    if title is None and filename:
        title = PurePath(filename).stem.strip() or None
    return ParsedDocument(
        text=text,
        title=title,
        mime_type=mime,
        encoding=encoding,
        pages=pages,
        warnings=tuple(warnings),
    )
