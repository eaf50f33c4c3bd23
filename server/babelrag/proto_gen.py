"""Regenerate the committed gRPC code in ``server/babelrag/v1`` from ``schemas/babelrag/v1``.

The generated modules are committed (so the SDK imports work from any install, with no build
step); ``make proto`` runs this, and a test checks the committed files equal a fresh generation.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
PACKAGE_DIR = Path("babelrag") / "v1"
HEADER = "# Generated from schemas/babelrag/v1 by `make proto`; do not edit.\n"


def generate(out_root: Path) -> list[Path]:
    import grpc_tools
    from grpc_tools import protoc

    protos = sorted(str(p.relative_to(SCHEMAS)) for p in (SCHEMAS / PACKAGE_DIR).glob("*.proto"))
    include = str(Path(grpc_tools.__file__).parent / "_proto")
    args = ["protoc", f"-I{SCHEMAS}", f"-I{include}", f"--python_out={out_root}", f"--pyi_out={out_root}", f"--grpc_python_out={out_root}", *protos]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed")
    generated = sorted((out_root / PACKAGE_DIR).glob("*_pb2*.py*"))
    for path in generated:
        path.write_text(HEADER + path.read_text())
    return generated


def main() -> int:
    target = ROOT / "server"
    with tempfile.TemporaryDirectory() as tmp:
        for path in generate(Path(tmp)):
            destination = target / PACKAGE_DIR / path.name
            destination.write_text(path.read_text())
            print(f"wrote {destination.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
