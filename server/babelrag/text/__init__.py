"""Text processing for ingestion and questions: parsing, language identification, chunking.

Plain modules with no server dependencies, called by the gateway's ingestion and ask pipelines:

* :mod:`babelrag.text.parsing` - document bytes (plain text, Markdown, HTML, PDF) to text + title;
  :func:`sniff_mime` also recognises images so the gateway can route them.
* :mod:`babelrag.text.langid` - language of a question or chunk (ISO 639-1 + confidence), code
  validation and language names.
* :mod:`babelrag.text.chunking` - language-aware sentence splitting and token-budget chunks.

Importing this package loads no model: langdetect, lingua and pypdf are imported on first use.
"""

from babelrag.text.chunking import (
    Chunk,
    ChunkingConfig,
    TokenCounter,
    chunk_and_dedupe,
    chunk_text,
    estimate_tokens,
    normalize_whitespace,
    split_sentences,
    token_counter,
)
from babelrag.text.langid import (
    DEFAULT_DETECTOR,
    UNKNOWN,
    DetectedLanguage,
    FastTextDetector,
    LangdetectDetector,
    LanguageDetector,
    LanguageName,
    LinguaDetector,
    detect_language,
    get_detector,
    is_valid_language_code,
    language_name,
    normalize_language_code,
)
from babelrag.text.parsing import (
    DocumentError,
    DocumentParseError,
    EmptyDocumentError,
    EncryptedDocumentError,
    NoTextLayerError,
    PageSpan,
    ParsedDocument,
    UnsupportedDocumentType,
    parse_document,
    sniff_mime,
)

__all__ = [
    "DEFAULT_DETECTOR",
    "UNKNOWN",
    "Chunk",
    "ChunkingConfig",
    "DetectedLanguage",
    "DocumentError",
    "DocumentParseError",
    "EmptyDocumentError",
    "EncryptedDocumentError",
    "FastTextDetector",
    "LangdetectDetector",
    "LanguageDetector",
    "LanguageName",
    "LinguaDetector",
    "NoTextLayerError",
    "PageSpan",
    "ParsedDocument",
    "TokenCounter",
    "UnsupportedDocumentType",
    "chunk_and_dedupe",
    "chunk_text",
    "detect_language",
    "estimate_tokens",
    "get_detector",
    "is_valid_language_code",
    "language_name",
    "normalize_language_code",
    "normalize_whitespace",
    "parse_document",
    "sniff_mime",
    "split_sentences",
    "token_counter",
]
