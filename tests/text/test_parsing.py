"""Tests for babelrag.text.parsing: sniffing, decoding, Markdown, HTML and PDF."""

from __future__ import annotations

import codecs
import io

import pytest
from babelrag.text.parsing import (
    DocumentError,
    DocumentParseError,
    EmptyDocumentError,
    EncryptedDocumentError,
    NoTextLayerError,
    ParsedDocument,
    UnsupportedDocumentType,
    parse_document,
    resolve_mime,
    sniff_mime,
)

# --------------------------------------------------------------------------------------------------
# A minimal PDF writer: enough of the format (objects, a cross-reference table with real byte
# offsets, a trailer) for any reader, with one Helvetica text object per line.


def _pdf_string(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + escaped.encode("latin-1") + b")"


def make_pdf(pages: list[list[str] | None], title: str | None = None) -> bytes:
    """A PDF with one page per entry: a list of text lines, or None for a page with only a
    filled rectangle (no text layer, like a scanned page)."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in below, once the page tree's number is known
    pages_obj = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    kids = []
    for lines in pages:
        if lines is None:
            stream = b"0.5 g 72 72 300 400 re f"
        else:
            ops = [b"BT", b"/F1 12 Tf", b"14 TL", b"72 720 Td"]
            for line in lines:
                ops += [_pdf_string(line) + b" Tj", b"T*"]
            ops.append(b"ET")
            stream = b"\n".join(ops)
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        page = add(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] " % pages_obj
            + b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>" % (font, content)
        )
        kids.append(page)
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
    objects[pages_obj - 1] = (
        b"<< /Type /Pages /Kids ["
        + b" ".join(b"%d 0 R" % k for k in kids)
        + b"] /Count %d >>" % len(kids)
    )
    info = add(b"<< /Title " + _pdf_string(title) + b" >>") if title else None

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R" % (len(objects) + 1, catalog)
    if info:
        out += b" /Info %d 0 R" % info
    out += b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def encrypt_pdf(data: bytes, user_password: str, owner_password: str = "owner") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------
# PDF


def test_pdf_text_layer_per_page_and_title():
    data = make_pdf(
        [["Annual Report 2024", "Revenue grew by 12 percent."], ["Second page (details)."]],
        title="The Annual Report",
    )
    doc = parse_document(data, "application/pdf", "report.pdf")
    assert doc.mime_type == "application/pdf"
    assert doc.title == "The Annual Report"
    assert doc.encoding is None
    assert [p.number for p in doc.pages] == [1, 2]
    first, second = doc.pages
    assert "Revenue grew by 12 percent." in doc.text[first.start : first.end]
    assert doc.text[second.start : second.end] == "Second page (details)."
    assert doc.text == doc.text[first.start : first.end] + "\n\n" + "Second page (details)."
    assert doc.page_at(second.start) == 2
    assert doc.page_at(0) == 1
    assert doc.page_at(len(doc.text) + 5) is None
    assert doc.warnings == ()


def test_pdf_is_sniffed_without_declared_type_and_title_falls_back_to_filename():
    doc = parse_document(make_pdf([["Hello PDF world."]]), None, "scan_0001.PDF")
    assert doc.mime_type == "application/pdf"
    assert doc.text == "Hello PDF world."
    assert doc.title == "scan_0001"


def test_pdf_declared_as_text_is_still_parsed_as_pdf_with_a_warning():
    doc = parse_document(make_pdf([["Magic bytes win."]]), "text/plain", None)
    assert doc.mime_type == "application/pdf"
    assert doc.text == "Magic bytes win."
    assert any("declared type text/plain" in w for w in doc.warnings)


def test_pdf_without_text_layer_is_a_clear_error():
    with pytest.raises(NoTextLayerError, match=r"no text layer \(scanned PDF\?\)"):
        parse_document(make_pdf([None, None]), "application/pdf", "scan.pdf")


def test_pdf_with_some_empty_pages_keeps_page_numbers_and_warns():
    doc = parse_document(make_pdf([None, ["Only page two has text."]]), "application/pdf")
    assert doc.pages[0].start == doc.pages[0].end  # page 1 is empty
    assert doc.text[doc.pages[1].start : doc.pages[1].end] == "Only page two has text."
    assert any("no text on page(s) 1" in w for w in doc.warnings)


def test_corrupt_pdf_raises_parse_error():
    data = make_pdf([["Hello"]])
    broken = data[:40] + b"\x00garbage" * 20  # header kept, body destroyed
    with pytest.raises(DocumentParseError) as info:
        parse_document(broken, "application/pdf")
    assert not isinstance(info.value, NoTextLayerError | EncryptedDocumentError)
    assert info.value.mime_type == "application/pdf"


def test_truncated_pdf_raises_parse_error():
    with pytest.raises(DocumentParseError):
        parse_document(b"%PDF-1.7\n1 0 obj << /Type /Catalog", "application/pdf")


def test_encrypted_pdf_needs_a_password():
    data = encrypt_pdf(make_pdf([["Top secret."]]), user_password="s3cret")
    with pytest.raises(EncryptedDocumentError, match="password"):
        parse_document(data, "application/pdf")


def test_pdf_encrypted_with_owner_password_only_opens():
    data = encrypt_pdf(make_pdf([["Readable by anyone."]]), user_password="")
    doc = parse_document(data, "application/pdf")
    assert doc.text == "Readable by anyone."


# --------------------------------------------------------------------------------------------------
# Plain text and decoding


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (codecs.BOM_UTF8 + "Grüße, 世界".encode(), "utf-8"),
        (codecs.BOM_UTF16_LE + "Grüße, 世界".encode("utf-16-le"), "utf-16-le"),
        (codecs.BOM_UTF16_BE + "Grüße, 世界".encode("utf-16-be"), "utf-16-be"),
        (codecs.BOM_UTF32_LE + "Grüße, 世界".encode("utf-32-le"), "utf-32-le"),
        ("Grüße, 世界".encode(), "utf-8"),
        ("Grüße, 世界 — BOM-less UTF-16 text".encode("utf-16-le"), "utf-16-le"),
    ],
)
def test_plain_text_encodings(data, encoding):
    doc = parse_document(data, "text/plain", "notes.txt")
    assert doc.text.startswith("Grüße, 世界")
    assert "\ufeff" not in doc.text
    assert doc.encoding == encoding
    assert doc.warnings == ()


def test_plain_text_fallback_is_reported():
    doc = parse_document("Café crème à la française".encode("cp1252"), "text/plain")
    assert doc.text == "Café crème à la française"
    assert doc.encoding == "cp1252"
    assert any("decoded as cp1252" in w for w in doc.warnings)


def test_declared_charset_is_used():
    doc = parse_document("中文文档内容".encode("gb18030"), "text/plain; charset=GB18030")
    assert doc.text == "中文文档内容"
    assert doc.encoding == "gb18030"


def test_plain_text_is_normalised():
    raw = "line one  \r\nline two\rline three\x00\n\n\n\n\nafter\tgap\x0c" + "e\u0301"
    doc = parse_document(raw.encode(), "text/plain")
    assert doc.text == "line one\nline two\nline three\n\nafter\tgap\n\u00e9"
    assert doc.title is None


def test_empty_inputs_raise_empty_document_error():
    with pytest.raises(EmptyDocumentError):
        parse_document(b"", "text/plain")
    with pytest.raises(EmptyDocumentError):
        parse_document(b"  \n\t \n", "text/plain")
    with pytest.raises(EmptyDocumentError):
        parse_document(b"<html><script>x()</script></html>", "text/html")


def test_binary_data_declared_as_text_is_rejected():
    with pytest.raises(DocumentParseError, match="binary"):
        parse_document(bytes(range(256)) * 4, "text/plain")


# --------------------------------------------------------------------------------------------------
# Markdown

MARKDOWN = """---
layout: post
---

Intro *before* the heading.

# Getting **Started** with `babel_rag`

Some _emphasis_, a [link](https://example.com/a_(b)) and ![a diagram](img.png).
Escaped \\*stars\\* and snake_case_names stay.

Setext Heading
--------------

- item one
- [x] item two
1. numbered

> quoted text

| Name | Value |
|------|------:|
| a    | 1     |

```python
x = a*b*c  # code is kept
```

---
[ref]: https://example.com
Footnote[^1] and <span>inline html</span> &amp; entities.
"""


def test_markdown_is_stripped_and_titled_from_first_heading():
    doc = parse_document(MARKDOWN.encode(), None, "guide.md")
    assert doc.mime_type == "text/markdown"
    assert doc.title == "Getting Started with babel_rag"
    lines = doc.text.split("\n")
    assert "layout: post" not in doc.text
    assert "Intro before the heading." in lines
    assert "Getting Started with babel_rag" in lines
    assert "Some emphasis, a link and a diagram." in lines
    assert "Escaped *stars* and snake_case_names stay." in lines
    assert "Setext Heading" in lines
    assert "--------------" not in doc.text
    assert {"item one", "item two", "numbered", "quoted text"} <= set(lines)
    assert "Name\tValue" in lines and "a\t1" in lines
    assert "x = a*b*c  # code is kept" in lines
    assert "```" not in doc.text and "[ref]" not in doc.text
    assert "Footnote and inline html & entities." in lines


def test_markdown_title_from_front_matter_wins():
    doc = parse_document(b'---\ntitle: "Front Title"\n---\n# Heading\nBody.', "text/markdown")
    assert doc.title == "Front Title"
    assert doc.text == "Heading\n\nBody."


# --------------------------------------------------------------------------------------------------
# HTML

HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title> The  Page Title </title>
<style>body { color: red }</style><script>var x = "<p>not text</p>";</script></head>
<body><nav><ul><li>Home</li><li>About</li></ul></nav>
<h1>Main Heading</h1>
<p>First   paragraph with <b>bold</b> and
a line break<br>inside.</p>
<div hidden>secret</div>
<ul><li>one</li><li>two</li></ul>
<table><tr><th>k</th><th>v</th></tr><tr><td>a</td><td>1</td></tr></table>
<pre>  keep   spacing
  here</pre>
<p>Caf&eacute; &amp; &#x4E2D;&#25991;</p>
</body></html>"""


def test_html_text_structure_and_title():
    doc = parse_document(HTML.encode(), "text/html; charset=utf-8", "page.html")
    assert doc.mime_type == "text/html"
    assert doc.title == "The Page Title"
    assert "Home" not in doc.text and "color" not in doc.text and "not text" not in doc.text
    assert "secret" not in doc.text and "The Page Title" not in doc.text
    paragraphs = doc.text.split("\n\n")
    assert paragraphs[0] == "Main Heading"
    assert paragraphs[1] == "First paragraph with bold and a line break\ninside."
    assert paragraphs[2] == "one\ntwo"
    assert "k\tv" in doc.text and "a\t1" in doc.text
    assert "  keep   spacing\n  here" in doc.text
    assert paragraphs[-1] == "Café & 中文"


def test_html_title_falls_back_to_first_h1_and_meta_charset_is_honoured():
    html = (
        '<html><head><meta charset="windows-1251"></head>'
        "<body><h1>Заголовок</h1><p>Текст.</p></body></html>"
    )
    doc = parse_document(html.encode("cp1251"), None, "ru.htm")
    assert doc.title == "Заголовок"
    assert doc.text == "Заголовок\n\nТекст."
    assert doc.encoding == "cp1251"


def test_html_is_sniffed_from_content():
    data = b"<!doctype html><html><body><p>Sniffed.</p></body></html>"
    assert sniff_mime(data) == "text/html"
    assert parse_document(data).text == "Sniffed."


# --------------------------------------------------------------------------------------------------
# Sniffing and type resolution


@pytest.mark.parametrize(
    ("data", "filename", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", None, "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "x.txt", "image/png"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", None, "image/webp"),
        (b"GIF89a\x01\x00\x01\x00", None, "image/gif"),
        (b"%PDF-1.7\n", None, "application/pdf"),
        (
            b"PK\x03\x04\x14\x00",
            "a.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (b"PK\x03\x04\x14\x00", None, "application/zip"),
        (b"# Title\n\ntext", "README.md", "text/markdown"),
        (b"just words", None, "text/plain"),
        (b"\x00\x01\x02\x03binary\x00\xff", None, "application/octet-stream"),
    ],
)
def test_sniff_mime(data, filename, expected):
    assert sniff_mime(data, filename) == expected


def test_images_are_not_parsed_here():
    with pytest.raises(UnsupportedDocumentType, match="image pipeline") as info:
        parse_document(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "image/png", "photo.png")
    assert info.value.mime_type == "image/png"


def test_unsupported_types_share_the_base_class():
    with pytest.raises(DocumentError) as info:
        parse_document(b"PK\x03\x04" + b"\x00" * 40, None, "slides.pptx")
    assert isinstance(info.value, UnsupportedDocumentType)
    assert "supported:" in str(info.value)
    assert issubclass(DocumentParseError, DocumentError)
    assert issubclass(NoTextLayerError, DocumentParseError)
    assert issubclass(EncryptedDocumentError, DocumentParseError)


def test_declared_type_wins_over_extension_for_text():
    mime, warnings = resolve_mime(b"# not a heading", "text/plain", "x.md")
    assert (mime, warnings) == ("text/plain", [])
    mime, _ = resolve_mime(b"# heading", "application/octet-stream", "x.md")
    assert mime == "text/markdown"


def test_parsed_document_is_immutable():
    doc = parse_document(b"text", "text/plain")
    assert isinstance(doc, ParsedDocument)
    with pytest.raises(AttributeError):
        doc.text = "other"  # type: ignore[misc]
