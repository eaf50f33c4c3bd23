"""``babelrag``: the command line of the BabelRAG client.

::

    babelrag ingest PATH... [--tag T] [--language xx] [--caption TEXT]
    babelrag ask "question" [--image FILE]... [--lang xx] [--top-k N] [--filter FIELD=V[,V]]...
    babelrag search "query" [--image FILE]... [--top-k N] [--mode hybrid|vector|keyword] [--filter ...]
    babelrag docs list [--limit N] | docs delete DOCUMENT_ID...
    babelrag admin tenants create|list|get|delete|state ...
    babelrag admin keys issue|list|revoke ...
    babelrag admin quota set TENANT [--rps R] [--burst N] [--max-chunks N] [--max-bytes SIZE]

Every command takes ``--json`` (one JSON object on stdout, also for errors), ``--url``,
``--api-key``/``--admin-key`` (else ``BABELRAG_URL``, ``BABELRAG_API_KEY``, ``BABELRAG_ADMIN_KEY``),
``--ca-file``, ``--insecure``, ``--timeout SECONDS`` and ``--debug`` (tracebacks and retry logs).
Errors are one line on stderr. Exit codes: see :data:`EXIT_CODES`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import IO, Any

from babelrag_client import errors
from babelrag_client._core import UNSET, __version__
from babelrag_client.client import Client
from babelrag_client.types import (
    Answer,
    Citation,
    IngestProgress,
    IngestReport,
    Quotas,
    Tenant,
)

__all__ = ["main", "EXIT_CODES", "exit_code_for"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_NOT_FOUND = 4
EXIT_QUOTA = 5
EXIT_UNAVAILABLE = 6
EXIT_PARTIAL = 7
EXIT_TIMEOUT = 8
EXIT_EXISTS = 9
EXIT_TENANT_UNAVAILABLE = 10
EXIT_INTERRUPTED = 130

#: Exit code -> meaning (also printed by ``babelrag --help``).
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_ERROR: "other error (server error, unexpected failure)",
    EXIT_USAGE: "usage: bad arguments, invalid request or configuration",
    EXIT_AUTH: "authentication or permission: missing, wrong or revoked key",
    EXIT_NOT_FOUND: "not found: document, tenant or key",
    EXIT_QUOTA: "quota or rate limit exceeded",
    EXIT_UNAVAILABLE: "server unavailable (after retries)",
    EXIT_PARTIAL: "ingest finished but some items failed",
    EXIT_TIMEOUT: "deadline exceeded (--timeout)",
    EXIT_EXISTS: "already exists (e.g. tenant name taken)",
    EXIT_TENANT_UNAVAILABLE: "tenant offloaded (not served until activated)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}

_EXIT_BY_ERROR: tuple[tuple[type[errors.BabelRAGError], int], ...] = (
    (errors.ConfigurationError, EXIT_USAGE),
    (errors.InvalidRequestError, EXIT_USAGE),
    (errors.AuthenticationError, EXIT_AUTH),
    (errors.PermissionDeniedError, EXIT_AUTH),
    (errors.NotFoundError, EXIT_NOT_FOUND),
    (errors.QuotaExceededError, EXIT_QUOTA),
    (errors.ServiceUnavailableError, EXIT_UNAVAILABLE),
    (errors.DeadlineExceededError, EXIT_TIMEOUT),
    (errors.AlreadyExistsError, EXIT_EXISTS),
    (errors.TenantUnavailableError, EXIT_TENANT_UNAVAILABLE),
)


def exit_code_for(error: BaseException) -> int:
    for cls, code in _EXIT_BY_ERROR:
        if isinstance(error, cls):
            return code
    return EXIT_ERROR


class UsageError(Exception):
    """A bad combination of arguments argparse cannot catch (exit code 2)."""


# ==================================================================================================
# Output
class Output:
    """Where results go: human text, or one JSON object (``--json``) on stdout."""

    def __init__(self, json_mode: bool, stdout: IO[str], stderr: IO[str]) -> None:
        self.json = json_mode
        self.stdout = stdout
        self.stderr = stderr

    def emit(self, value: Any) -> None:
        indent = 2 if _isatty(self.stdout) else None
        self.stdout.write(json.dumps(value, ensure_ascii=False, indent=indent, default=_json_default) + "\n")
        self.stdout.flush()

    def line(self, text: str = "") -> None:
        self.stdout.write(text + "\n")

    def warn(self, text: str) -> None:
        self.stderr.write(text + "\n")
        self.stderr.flush()


def _json_default(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _size(n: int | float) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.I)
_UNITS = {"": 1, "b": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": 1024**2, "mib": 1024**2, "mb": 1000**2,
          "g": 1024**3, "gib": 1024**3, "gb": 1000**3, "t": 1024**4, "tib": 1024**4, "tb": 1000**4}  # fmt: skip


def parse_size(text: str) -> int:
    """Bytes from "123", "10MiB", "1.5GB", "512k" (k/m/g and KiB/MiB/GiB are binary, KB/MB/GB decimal)."""
    match = _SIZE_RE.match(text)
    unit = (match.group(2) or "").lower() if match else None
    if match is None or unit not in _UNITS:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: use e.g. 500000, 10MiB or 1GB")
    return int(float(match.group(1)) * _UNITS[unit])


def parse_filter(text: str) -> tuple[str, list[str]]:
    field, sep, values = text.partition("=")
    if not sep or not field.strip() or not values.strip():
        raise argparse.ArgumentTypeError(f"invalid filter {text!r}: use FIELD=VALUE[,VALUE...], e.g. language=de")
    return field.strip(), [v.strip() for v in values.split(",") if v.strip()]


def _filters(pairs: Sequence[tuple[str, list[str]]] | None) -> dict[str, list[str]] | None:
    if not pairs:
        return None
    merged: dict[str, list[str]] = {}
    for field, values in pairs:
        merged.setdefault(field, []).extend(values)
    return merged


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


# ==================================================================================================
# Ingest progress on stderr
class ProgressBar:
    """A one-line progress bar on a terminal's stderr (redrawn at most 10 times a second)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.last_draw = 0.0
        self.drawn = False

    def __call__(self, event: IngestProgress) -> None:
        now = time.monotonic()
        if event.result is None and now - self.last_draw < 0.1:
            return
        self.last_draw = now
        width = shutil.get_terminal_size((80, 20)).columns
        done = event.items_done / event.items_total if event.items_total else 1.0
        if event.bytes_total:
            done = min(1.0, event.bytes_sent / event.bytes_total) * 0.5 + done * 0.5
        bar_width = 20
        filled = int(done * bar_width)
        text = (
            f"[{'#' * filled}{'.' * (bar_width - filled)}] {event.items_done}/{event.items_total} items"
            f"  {_size(event.bytes_sent)}/{_size(event.bytes_total)}"
        )
        if event.items_failed:
            text += f"  {event.items_failed} failed"
        if event.current:
            text += f"  {event.current}"
        text = text[: max(10, width - 1)]
        self.stream.write("\r" + text.ljust(width - 1))
        self.stream.flush()
        self.drawn = True

    def clear(self) -> None:
        if self.drawn:
            width = shutil.get_terminal_size((80, 20)).columns
            self.stream.write("\r" + " " * (width - 1) + "\r")
            self.stream.flush()


# ==================================================================================================
# Commands
def _client(args: argparse.Namespace) -> Client:
    return Client(
        args.url if args.url is not None else UNSET,
        api_key=args.api_key if args.api_key is not None else UNSET,
        admin_key=args.admin_key if args.admin_key is not None else UNSET,
        insecure=True if args.insecure else None,
        ca_file=args.ca_file if args.ca_file is not None else UNSET,
        timeout=args.timeout if args.timeout is not None else UNSET,
    )


def cmd_ingest(args: argparse.Namespace, out: Output) -> int:
    captions = None
    if args.caption is not None:
        if len(args.paths) != 1 or os.path.isdir(args.paths[0]):
            raise UsageError("--caption needs exactly one image file")
        captions = {args.paths[0]: args.caption}
    bar = ProgressBar(out.stderr) if not args.no_progress and _isatty(out.stderr) else None
    with _client(args) as client:
        try:
            report = client.ingest(
                args.paths,
                tags=args.tag or (),
                language=args.language or "",
                captions=captions,
                recursive=not args.no_recursive,
                progress=bar,
            )
        finally:
            if bar is not None:
                bar.clear()
    _ingest_summary(report, out)
    return EXIT_PARTIAL if report.failed else EXIT_OK


def _ingest_summary(report: IngestReport, out: Output) -> None:
    failed = report.failed
    if out.json:
        out.emit(
            {
                "files": len(report.results),
                "stored": len(report.stored),
                "failed": len(failed),
                "chunks": report.chunks,
                "skipped": [s.to_dict() for s in report.skipped],
                "errors": [{"source": r.source, "code": r.error.code, "message": r.error.message} for r in failed if r.error],
                "results": [r.to_dict() for r in report.results],
            }
        )
        return
    duplicates = sum(r.duplicate_chunks for r in report.stored)
    summary = f"Ingested {len(report.stored)} of {len(report.results)} items: {report.chunks} chunks"
    if duplicates:
        summary += f" ({duplicates} duplicate chunks dropped)"
    summary += f", {len(report.skipped)} skipped, {len(failed)} errors."
    out.line(summary)
    for skipped in report.skipped[:10]:
        out.line(f"  skipped {skipped.path}: {skipped.reason}")
    if len(report.skipped) > 10:
        out.line(f"  ... and {len(report.skipped) - 10} more skipped")
    for result in failed:
        out.warn(f"failed {result.source}: {result.error}")


def cmd_ask(args: argparse.Namespace, out: Output) -> int:
    with _client(args) as client:
        options: dict[str, Any] = {
            "images": args.image or None,
            "language": args.lang,
            "top_k": args.top_k,
            "filters": _filters(args.filter),
            "mode": args.mode,
            "max_tokens": args.max_tokens,
            "temperature": args.temperature,
        }
        if out.json:
            answer = client.ask(args.question, stream=False, **options)
            out.emit(answer.to_dict())
            return EXIT_OK
        final: Answer | None = None
        ended_with_newline = True
        with client.ask(args.question, stream=True, **options) as stream:
            for event in stream:
                if isinstance(event, Answer):
                    final = event
                    continue
                if event.text:
                    out.stdout.write(event.text)
                    out.stdout.flush()
                    ended_with_newline = event.text.endswith("\n")
    if final is None:  # pragma: no cover - the stream raises before this can happen
        raise errors.ServerError("no answer received")
    if not final.text:
        out.line("(empty answer)")
    elif not ended_with_newline:
        out.line()
    _print_sources(final, out)
    return EXIT_OK


def _print_sources(answer: Answer, out: Output) -> None:
    if answer.no_answer_in_sources:
        out.line("\nNo sources matched the question.")
        return
    cited = answer.citations
    heading, sources = ("Sources:", cited) if cited else ("Sources given to the model (none cited):", answer.context)
    out.line("\n" + heading)
    for citation in sources:
        out.line(f"  [{citation.number}] {_citation_label(citation)}")


def _citation_label(citation: Citation) -> str:
    title = citation.source.title or citation.document_id
    label = title if title == citation.document_id else f"{title} ({citation.document_id})"
    if citation.source.uri:
        label += f" <{citation.source.uri}>"
    return label


def cmd_search(args: argparse.Namespace, out: Output) -> int:
    if not args.query and not args.image:
        raise UsageError("give a query, --image FILE, or both")
    with _client(args) as client:
        result = client.search(
            args.query or "",
            images=args.image or None,
            top_k=args.top_k,
            mode=args.mode,
            filters=_filters(args.filter),
        )
    if out.json:
        out.emit(result.to_dict())
        return EXIT_OK
    if not result.hits:
        out.line("No matches.")
    for rank, hit in enumerate(result.hits, 1):
        title = hit.source.title or hit.document_id
        language = f", {hit.language}" if hit.language else ""
        out.line(f"{rank:>3}. {hit.score:.3f}  {title}  ({hit.document_id} #{hit.chunk_index}, {hit.modality.value or '?'}{language})")
        if hit.snippet:
            out.line(f"       {hit.snippet[:200]}")
    return EXIT_OK


def cmd_docs_list(args: argparse.Namespace, out: Output) -> int:
    documents = []
    with _client(args) as client:
        for document in client.documents.iterate(page_size=args.page_size):
            documents.append(document)
            if args.limit and len(documents) >= args.limit:
                break
    if out.json:
        out.emit({"documents": [d.to_dict() for d in documents], "count": len(documents)})
        return EXIT_OK
    if not documents:
        out.line("No documents.")
        return EXIT_OK
    id_width = min(60, max(len("DOCUMENT"), *(len(d.document_id) for d in documents)))
    out.line(f"{'DOCUMENT':<{id_width}}  {'TYPE':<5}  {'LANG':<4}  {'CHUNKS':>6}  {'SIZE':>10}  {'STORED (UTC)':<16}  TITLE")
    for d in documents:
        stored = d.created_at.strftime("%Y-%m-%d %H:%M") if d.created_at else "?"
        out.line(
            f"{d.document_id:<{id_width}}  {d.modality.value or '?':<5}  {d.language or '?':<4}  {d.chunks:>6}  "
            f"{_size(d.bytes):>10}  {stored:<16}  {d.source.title}"
        )
    out.line(f"{len(documents)} documents")
    return EXIT_OK


def cmd_docs_delete(args: argparse.Namespace, out: Output) -> int:
    deleted: list[dict[str, Any]] = []
    failures: list[errors.BabelRAGError] = []
    with _client(args) as client:
        for document_id in args.document_ids:
            try:
                chunks = client.documents.delete(document_id)
            except (errors.NotFoundError, errors.InvalidRequestError) as exc:
                failures.append(exc)
                if args.debug:
                    traceback.print_exception(type(exc), exc, exc.__traceback__, file=out.stderr)
                suffix = f" (request id {exc.request_id})" if args.debug and exc.request_id else ""
                out.warn(f"babelrag: error: {exc}{suffix}")
                continue
            deleted.append({"document_id": document_id, "chunks_deleted": chunks})
            if not out.json:
                out.line(f"Deleted {document_id} ({chunks} chunks).")
    if out.json:
        out.emit({"deleted": deleted, "errors": [f.to_dict() for f in failures]})
    return exit_code_for(failures[0]) if failures else EXIT_OK


def _tenant_line(tenant: Tenant) -> str:
    q, u = tenant.quotas, tenant.usage
    limits = ", ".join(
        f"{name} {value}"
        for name, value in (
            ("rps", f"{q.requests_per_second:g}" if q.requests_per_second else ""),
            ("burst", q.burst or ""),
            ("max chunks", q.max_chunks or ""),
            ("max bytes", _size(q.max_bytes) if q.max_bytes else ""),
        )
        if value
    )
    return (
        f"{tenant.name:<24} {tenant.state.value or '?':<10} {u.documents:>6} docs {u.chunks:>8} chunks"
        f" {_size(u.bytes):>10}  {limits or 'unlimited'}"
    )


def _quotas_from_args(args: argparse.Namespace, base: Quotas | None = None) -> Quotas | None:
    changes = {
        "requests_per_second": args.rps,
        "burst": args.burst,
        "max_chunks": args.max_chunks,
        "max_bytes": args.max_bytes,
    }
    given = {k: v for k, v in changes.items() if v is not None}
    if not given:
        return base
    current = (base or Quotas()).to_dict()
    current.update(given)
    return Quotas(**current)


def cmd_tenants_create(args: argparse.Namespace, out: Output) -> int:
    with _client(args) as client:
        created = client.admin.create_tenant(args.name, quotas=_quotas_from_args(args), key_label=args.key_label or "")
    if out.json:
        out.emit(created.to_dict())
        return EXIT_OK
    out.line(f"Created tenant {created.tenant.name} with API key {created.key.key_id}.")
    out.line(f"API key (shown only this once): {created.api_key}")
    out.line(f"  export BABELRAG_API_KEY={created.api_key}")
    return EXIT_OK


def cmd_tenants_list(args: argparse.Namespace, out: Output) -> int:
    with _client(args) as client:
        tenants = client.admin.list_tenants()
    if out.json:
        out.emit({"tenants": [t.to_dict() for t in tenants], "count": len(tenants)})
        return EXIT_OK
    if not tenants:
        out.line("No tenants.")
    for tenant in tenants:
        out.line(_tenant_line(tenant))
    return EXIT_OK


def cmd_tenants_get(args: argparse.Namespace, out: Output) -> int:
    with _client(args) as client:
        tenant = client.admin.get_tenant(args.name)
    if out.json:
        out.emit(tenant.to_dict())
    else:
        out.line(_tenant_line(tenant))
        if tenant.created_at:
            out.line(f"created {tenant.created_at.isoformat()}")
    return EXIT_OK


def cmd_tenants_delete(args: argparse.Namespace, out: Output) -> int:
    if not args.yes:
        raise UsageError(f"deleting tenant {args.name!r} deletes all its data and keys: add --yes to confirm")
    with _client(args) as client:
        deleted = client.admin.delete_tenant(args.name)
    if out.json:
        out.emit({"tenant": args.name, **deleted.to_dict()})
    else:
        out.line(f"Deleted tenant {args.name}: {deleted.chunks_deleted} chunks, {deleted.keys_revoked} keys revoked.")
    return EXIT_OK


def cmd_tenants_state(args: argparse.Namespace, out: Output) -> int:
    with _client(args) as client:
        tenant = client.admin.set_tenant_state(args.name, args.state)
    if out.json:
        out.emit(tenant.to_dict())
    else:
        out.line(f"Tenant {tenant.name} is {tenant.state.value}.")
    return EXIT_OK


def cmd_keys_issue(args: argparse.Namespace, out: Output) -> int:
    with _client(args) as client:
        issued = client.admin.issue_key(args.tenant, label=args.label or "")
    if out.json:
        out.emit(issued.to_dict())
    else:
        out.line(f"Issued API key {issued.key.key_id} for tenant {issued.key.tenant}.")
        out.line(f"API key (shown only this once): {issued.api_key}")
    return EXIT_OK


def cmd_keys_list(args: argparse.Namespace, out: Output) -> int:
    with _client(args) as client:
        keys = client.admin.list_keys(args.tenant)
    if out.json:
        out.emit({"keys": [k.to_dict() for k in keys], "count": len(keys)})
        return EXIT_OK
    if not keys:
        out.line("No keys.")
    for key in keys:
        state = f"revoked {key.revoked_at.isoformat()}" if key.revoked and key.revoked_at else ("revoked" if key.revoked else "active")
        created = key.created_at.isoformat() if key.created_at else "?"
        out.line(f"{key.key_id:<20} {state:<36} created {created}  {key.label}")
    return EXIT_OK


def cmd_keys_revoke(args: argparse.Namespace, out: Output) -> int:
    with _client(args) as client:
        key = client.admin.revoke_key(args.key_id)
    if out.json:
        out.emit(key.to_dict())
    else:
        out.line(f"Revoked API key {key.key_id} of tenant {key.tenant}.")
    return EXIT_OK


def cmd_quota_set(args: argparse.Namespace, out: Output) -> int:
    if all(v is None for v in (args.rps, args.burst, args.max_chunks, args.max_bytes)):
        raise UsageError("give at least one of --rps, --burst, --max-chunks, --max-bytes (0 = unlimited)")
    with _client(args) as client:
        current = client.admin.get_tenant(args.tenant).quotas  # unchanged limits stay as they are
        tenant = client.admin.set_quotas(args.tenant, _quotas_from_args(args, current) or current)
    if out.json:
        out.emit(tenant.to_dict())
    else:
        out.line(_tenant_line(tenant))
    return EXIT_OK


# ==================================================================================================
# Parser
def _common_options() -> argparse.ArgumentParser:
    """Options every command takes; SUPPRESS keeps a subcommand from overwriting a value given
    before it (``babelrag --json search ...`` and ``babelrag search ... --json`` both work)."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection and output")
    s = argparse.SUPPRESS
    group.add_argument("--url", default=s, help="server address, host:port or https://host (env BABELRAG_URL; default localhost:50051)")
    group.add_argument("--api-key", default=s, metavar="KEY", help="tenant API key (env BABELRAG_API_KEY)")
    group.add_argument("--admin-key", default=s, metavar="KEY", help="admin key, for 'admin' commands (env BABELRAG_ADMIN_KEY)")
    group.add_argument("--ca-file", default=s, metavar="PEM", help="CA bundle to verify the server's TLS certificate (env BABELRAG_CA_FILE)")
    group.add_argument("--insecure", action="store_true", default=s, help="plain-text connection, no TLS (default only for localhost)")
    group.add_argument("--timeout", type=_positive_float, default=s, metavar="SECONDS", help="deadline of each call")
    group.add_argument("--json", action="store_true", default=s, help="print one JSON object on stdout")
    group.add_argument("--debug", action="store_true", default=s, help="show tracebacks and retries")
    return common


def _epilog() -> str:
    codes = "\n".join(f"  {code:>3}  {meaning}" for code, meaning in EXIT_CODES.items())
    return (
        "examples:\n"
        "  babelrag ingest docs/ photos/ --tag handbook\n"
        '  babelrag ask "Wie viele Urlaubstage habe ich?" --lang de\n'
        '  babelrag ask "What is on this picture?" --image photo.jpg\n'
        '  babelrag search "vacation policy" --filter language=en,de --json\n'
        "  babelrag admin tenants create acme --rps 20 --burst 40\n\n"
        f"exit codes:\n{codes}"
    )


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="babelrag",
        description="Ingest, search and ask a BabelRAG server.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"babelrag {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(group: Any, name: str, handler: Callable[[argparse.Namespace, Output], int], help_text: str, **kwargs: Any) -> argparse.ArgumentParser:
        sub = group.add_parser(name, help=help_text, description=help_text, parents=[common], **kwargs)
        sub.set_defaults(handler=handler)
        return sub

    ingest = command(commands, "ingest", cmd_ingest, "upload files and folders (text, Markdown, HTML, PDF, images)")
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="files and folders; folders are walked, hidden and unsupported files skipped")
    ingest.add_argument("--tag", action="append", metavar="TAG", help="tag every item (repeatable)")
    ingest.add_argument("--language", metavar="xx", help="ISO 639-1 language of the documents (default: detected)")
    ingest.add_argument("--caption", metavar="TEXT", help="caption of a single image (else IMAGE.caption.txt next to it)")
    ingest.add_argument("--no-recursive", action="store_true", help="do not descend into sub-folders")
    ingest.add_argument("--no-progress", action="store_true", help="no progress bar")

    def retrieval_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--image", action="append", metavar="FILE", help="an image (JPEG/PNG/WebP/GIF; repeatable)")
        sub.add_argument("--top-k", type=_positive_int, metavar="N", help="number of passages/hits")
        sub.add_argument("--mode", choices=("hybrid", "vector", "keyword"), help="retrieval mode (default hybrid)")
        sub.add_argument(
            "--filter",
            action="append",
            type=parse_filter,
            metavar="FIELD=V[,V]",
            help="only chunks whose FIELD (document_id, language, tag, modality) is one of the values (repeatable)",
        )

    ask = command(commands, "ask", cmd_ask, "ask a question; the answer streams in, then its sources")
    ask.add_argument("question")
    retrieval_options(ask)
    ask.add_argument("--lang", metavar="xx", help="answer language, ISO 639-1 (default: the question's)")
    ask.add_argument("--max-tokens", type=_positive_int, metavar="N", help="longest answer, in tokens")
    ask.add_argument("--temperature", type=_non_negative_float, metavar="T", help="sampling temperature (default 0: greedy)")

    search = command(commands, "search", cmd_search, "search the documents (text and/or image query)")
    search.add_argument("query", nargs="?", default="")
    retrieval_options(search)

    docs = commands.add_parser("docs", help="list or delete documents", description="list or delete documents")
    docs_commands = docs.add_subparsers(dest="docs_command", metavar="ACTION", required=True)
    docs_list = command(docs_commands, "list", cmd_docs_list, "list the tenant's documents")
    docs_list.add_argument("--limit", type=_positive_int, metavar="N", help="show at most N")
    docs_list.add_argument("--page-size", type=_positive_int, metavar="N", help="documents fetched per call")
    docs_delete = command(docs_commands, "delete", cmd_docs_delete, "delete documents by id")
    docs_delete.add_argument("document_ids", nargs="+", metavar="DOCUMENT_ID")

    admin = commands.add_parser("admin", help="tenants, API keys and quotas (admin key)", description="tenants, API keys and quotas; needs the admin key")
    admin_commands = admin.add_subparsers(dest="admin_command", metavar="AREA", required=True)

    def quota_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--rps", type=_non_negative_float, metavar="R", help="requests per second (0 = unlimited)")
        sub.add_argument("--burst", type=_non_negative_int, metavar="N", help="requests allowed in a burst")
        sub.add_argument("--max-chunks", type=_non_negative_int, metavar="N", help="stored chunks at most")
        sub.add_argument("--max-bytes", type=parse_size, metavar="SIZE", help="stored bytes at most, e.g. 10GiB")

    tenants = admin_commands.add_parser("tenants", help="create, list, inspect, delete, offload tenants")
    tenant_commands = tenants.add_subparsers(dest="tenants_command", metavar="ACTION", required=True)
    create = command(tenant_commands, "create", cmd_tenants_create, "create a tenant and its first API key")
    create.add_argument("name")
    create.add_argument("--key-label", metavar="LABEL", help="label of the first API key")
    quota_options(create)
    command(tenant_commands, "list", cmd_tenants_list, "list tenants with usage and quotas")
    command(tenant_commands, "get", cmd_tenants_get, "show one tenant").add_argument("name")
    delete = command(tenant_commands, "delete", cmd_tenants_delete, "delete a tenant, its data and its keys")
    delete.add_argument("name")
    delete.add_argument("--yes", action="store_true", help="confirm: this deletes all the tenant's data")
    state = command(tenant_commands, "state", cmd_tenants_state, "activate or offload a tenant")
    state.add_argument("name")
    state.add_argument("state", choices=("active", "offloaded"))

    keys = admin_commands.add_parser("keys", help="issue, list, revoke API keys")
    key_commands = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    issue = command(key_commands, "issue", cmd_keys_issue, "issue a new API key for a tenant")
    issue.add_argument("tenant")
    issue.add_argument("--label", metavar="LABEL")
    command(key_commands, "list", cmd_keys_list, "list a tenant's API keys").add_argument("tenant")
    command(key_commands, "revoke", cmd_keys_revoke, "revoke an API key by id").add_argument("key_id")

    quota = admin_commands.add_parser("quota", help="set a tenant's quotas")
    quota_commands = quota.add_subparsers(dest="quota_command", metavar="ACTION", required=True)
    quota_set = command(quota_commands, "set", cmd_quota_set, "change a tenant's quotas (limits not given stay as they are)")
    quota_set.add_argument("tenant")
    quota_options(quota_set)
    return parser


_DEFAULTS = {"url": None, "api_key": None, "admin_key": None, "ca_file": None, "insecure": False, "timeout": None, "json": False, "debug": False}


def main(argv: Sequence[str] | None = None, *, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and usage errors (2)
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_USAGE
    for name, default in _DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    out = Output(args.json, stdout, stderr)
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, stream=stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        logging.getLogger("babelrag_client").setLevel(logging.DEBUG)
    try:
        return int(args.handler(args, out))
    except UsageError as exc:
        return _fail(out, args, exc, EXIT_USAGE, f"{parser.prog}: error: {exc}")
    except errors.BabelRAGError as exc:
        text = str(exc).replace("pass api_key=", "pass --api-key").replace("pass admin_key=", "pass --admin-key")
        message = f"babelrag: error: {text}"
        if args.debug and exc.request_id:
            message += f" (request id {exc.request_id})"
        if isinstance(exc, errors.QuotaExceededError) and exc.retry_after is not None:
            message += f" (retry after {exc.retry_after:.1f} s)"
        return _fail(out, args, exc, exit_code_for(exc), message)
    except KeyboardInterrupt:
        stderr.write("\nbabelrag: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `babelrag search ... | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, stdout.fileno())
        except (AttributeError, OSError, ValueError):
            pass
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - a bug: one line unless --debug
        return _fail(out, args, exc, EXIT_ERROR, f"babelrag: unexpected error: {type(exc).__name__}: {exc} (run with --debug for details)")


def _fail(out: Output, args: argparse.Namespace, exc: BaseException, code: int, message: str) -> int:
    if args.debug:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=out.stderr)
    out.warn(message)
    if out.json:
        detail = exc.to_dict() if isinstance(exc, errors.BabelRAGError) else {"type": type(exc).__name__, "message": str(exc)}
        out.emit({"error": detail, "exit_code": code})
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
