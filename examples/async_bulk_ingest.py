"""Ingest many folders at once with the asyncio client, with one combined progress line.

    BABELRAG_API_KEY=... python examples/async_bulk_ingest.py handbook/ policies/ photos/ --concurrency 3

Each path is uploaded on its own Ingest stream; ``--concurrency`` streams run at the same time
over one connection (an AsyncClient multiplexes them). Files are read in a worker thread and sent
in 1 MiB pieces, so big folders do not fill memory. A broken file is reported and the rest go on;
the exit code is 0 when everything was stored, 7 when some items failed (as ``babelrag ingest``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from babelrag_client import UNSET, AsyncClient, BabelRAGError, IngestProgress, IngestReport


class CombinedProgress:
    """Progress of several concurrent ingest calls on one stderr line."""

    def __init__(self, paths: list[Path]) -> None:
        self.latest: dict[Path, IngestProgress] = {}
        self.paths = paths
        self.started = time.monotonic()
        self.tty = sys.stderr.isatty()

    def callback(self, path: Path):  # noqa: ANN201 - returns the callback for one path
        def on_progress(event: IngestProgress) -> None:
            self.latest[path] = event
            if event.result is not None and not event.result.ok:
                self.line(f"failed {event.result.source}: {event.result.error}\n")
            self.draw()

        return on_progress

    def draw(self) -> None:
        if not self.tty:
            return
        done = sum(e.items_done for e in self.latest.values())
        total = sum(e.items_total for e in self.latest.values())
        sent = sum(e.bytes_sent for e in self.latest.values()) / 1024**2
        elapsed = time.monotonic() - self.started
        self.line(f"\r{done}/{total} items, {sent:.1f} MiB sent, {elapsed:.0f} s")

    def line(self, text: str) -> None:
        sys.stderr.write(("\r\033[K" if self.tty else "") + text)
        sys.stderr.flush()


async def ingest_all(client: AsyncClient, paths: list[Path], concurrency: int, tags: list[str]) -> dict[Path, IngestReport]:
    progress = CombinedProgress(paths)
    limit = asyncio.Semaphore(concurrency)

    async def one(path: Path) -> IngestReport:
        async with limit:
            return await client.ingest(path, tags=tags, progress=progress.callback(path))

    reports = await asyncio.gather(*(one(p) for p in paths))
    progress.line("")
    return dict(zip(paths, reports))


async def run(args: argparse.Namespace) -> int:
    async with AsyncClient(args.url or UNSET, api_key=args.api_key or UNSET) as client:
        reports = await ingest_all(client, args.paths, args.concurrency, args.tag or [])
    failed = 0
    for path, report in reports.items():
        failed += len(report.failed)
        print(f"{path}: {len(report.stored)}/{len(report)} stored, {report.chunks} chunks, {len(report.skipped)} skipped")
    return 7 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="folders or files")
    parser.add_argument("--concurrency", type=int, default=3, help="streams at the same time (default 3)")
    parser.add_argument("--tag", action="append", help="tag every item (repeatable)")
    parser.add_argument("--url", help="server (env BABELRAG_URL, default localhost:50051)")
    parser.add_argument("--api-key", help="tenant API key (env BABELRAG_API_KEY)")
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    try:
        return asyncio.run(run(args))
    except BabelRAGError as exc:  # nothing could be ingested at all (wrong key, server down, ...)
        print(f"async_bulk_ingest: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
