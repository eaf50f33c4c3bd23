"""Ask a question about a picture, answered from your own documents and images.

    BABELRAG_API_KEY=... python examples/image_question.py photo.jpg "What is this and where was it taken?"
    python examples/image_question.py photo.jpg "Was ist das?" --lang de --store "Our office in Lyon, 2023"

With ``--store CAPTION`` the picture is first ingested with that caption (so later questions and
image searches can find it). The question is then asked *with* the picture: the server looks for
similar images and matching text, and the answer streams in, followed by its numbered sources.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from babelrag_client import UNSET, Answer, BabelRAGError, Client, ImageDocument


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image", type=Path, help="a JPEG, PNG, WebP or GIF file")
    parser.add_argument("question")
    parser.add_argument("--lang", help="answer language, e.g. de (default: the question's)")
    parser.add_argument("--store", metavar="CAPTION", help="first ingest the image with this caption")
    parser.add_argument("--url", help="server (env BABELRAG_URL, default localhost:50051)")
    parser.add_argument("--api-key", help="tenant API key (env BABELRAG_API_KEY)")
    args = parser.parse_args(argv)

    try:
        with Client(args.url or UNSET, api_key=args.api_key or UNSET) as client:
            if args.store:
                report = client.ingest(ImageDocument(args.image, caption=args.store, title=args.image.name))
                for result in report:
                    state = f"stored as {result.document_id}" if result.ok else f"failed: {result.error}"
                    print(f"[{args.image.name} {state}]", file=sys.stderr)

            similar = client.search(image=args.image, filters={"modality": "image"}, top_k=3)
            if similar.hits:
                print("Similar images: " + ", ".join(f"{h.source.title or h.document_id} ({h.score:.2f})" for h in similar), file=sys.stderr)

            answer: Answer | None = None
            with client.ask(args.question, image=args.image, language=args.lang) as stream:
                for event in stream:
                    if isinstance(event, Answer):
                        answer = event
                    else:
                        print(event.text, end="", flush=True)
            print()
            if answer is not None:
                for citation in answer.citations or answer.context:
                    kind = "image" if citation.modality.value == "image" else "text"
                    print(f"  [{citation.number}] {citation.source.title or citation.document_id} ({kind})")
    except BabelRAGError as exc:
        print(f"image_question: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
