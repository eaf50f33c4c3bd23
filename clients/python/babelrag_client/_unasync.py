"""Generate the sync client (``client.py``) from the async one (``aio.py``).

    python -m babelrag_client._unasync          # rewrite client.py
    python -m babelrag_client._unasync --check  # exit 1 if client.py is not what aio.py generates

The rewrite is a fixed list of token substitutions (below), the approach of httpcore's
``scripts/unasync.py``: ``aio.py`` keeps to the constructs these rules cover (see its docstring),
so the generated code needs no hand edits. ``tests/client/test_unasync.py`` runs the check.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "aio.py"
TARGET = HERE / "client.py"

#: (pattern, replacement), applied in order to the whole text.
RULES: tuple[tuple[str, str], ...] = (
    (r"\basync def\b", "def"),
    (r"\basync for\b", "for"),
    (r"\basync with\b", "with"),
    (r"\bawait ", ""),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\b__aiter__\b", "__iter__"),
    (r"\b__anext__\b", "__next__"),
    (r"\baclose\b", "close"),
    (r"\banext\(", "next("),
    (r"\bStopAsyncIteration\b", "StopIteration"),
    (r"\bAwaitable\[(\w+)\]", r"\1"),
    (r"\bAwaitable, ", ""),
    (r"\bAsync([A-Z]\w*)", r"\1"),  # AsyncClient -> Client, AsyncIterator -> Iterator, ...
    (r"\basync_(\w+)", r"sync_\1"),  # the _io primitives
    (r"\bgrpc\.aio\.", "grpc."),
    (r"\(on ``grpc\.aio``\)", "(on gRPC's blocking API)"),
    (r"\(asyncio\)", "(blocking; thread-safe)"),
)

SYNC_DOCSTRING = '''"""The synchronous client, :class:`Client`: GENERATED from ``aio.py``, do not edit.

Regenerate with ``python -m babelrag_client._unasync`` after changing ``aio.py``; see that
module's docstring for how the sync and async clients share their code. A ``Client`` may be used
from many threads at once. Ingest progress callbacks run in gRPC's sending thread or in the
calling thread, never two at a time.

Example::

    with Client("localhost:50051", api_key="brk_...") as client:
        report = client.ingest(["handbook/", TextDocument("Opening hours: 9-17", title="Hours")])
        for event in client.ask("When are you open?", language="de"):
            if event.is_final:
                print("\\\\n", [c.source.title for c in event.citations])
            else:
                print(event.text, end="", flush=True)
"""'''

_DOCSTRING_RE = re.compile(r'\A"""(?:.|\n)*?"""', re.MULTILINE)


def generate(source: str) -> str:
    """The sync module for the async module's text ``source``."""
    match = _DOCSTRING_RE.match(source)
    if match is None:
        raise ValueError("aio.py must start with its module docstring")
    body = source[match.end() :]
    for pattern, replacement in RULES:
        body = re.sub(pattern, replacement, body)
    return SYNC_DOCSTRING + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m babelrag_client._unasync", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that client.py is current")
    args = parser.parse_args(argv)
    expected = generate(SOURCE.read_text(encoding="utf-8"))
    current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
    if args.check:
        if current != expected:
            print(f"{TARGET} is out of date: run python -m babelrag_client._unasync", file=sys.stderr)
            return 1
        return 0
    if current != expected:
        TARGET.write_text(expected, encoding="utf-8")
        print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
