"""``make demo``: the main job on the embedded defaults, end to end.

Builds the profile's models if missing, starts the gateway (which starts a local Triton), creates a
tenant, ingests the multilingual sample corpus in ``examples/corpus`` plus two charts the demo
draws itself, shows cross-lingual search, and asks questions in several languages, streaming each
cited answer as it is generated. Tenant data goes to a fresh ``<data>/demo`` directory each run.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw

from babelrag.cli import ensure_repository

CORPUS = Path(__file__).resolve().parents[2] / "examples" / "corpus"

QUESTIONS = [
    ("de", "Wie hoch ist der Eiffelturm?"),
    ("zh", "叶绿素主要吸收什么颜色的光？"),
    ("es", "¿Cuánta agua vierte el Amazonas al océano?"),
    ("ja", "茶道を大成したのは誰ですか？"),
]


def draw_bar_chart() -> bytes:
    """Tower heights as a labelled bar chart."""
    image = Image.new("RGB", (360, 260), "white")
    draw = ImageDraw.Draw(image)
    draw.text((90, 8), "Tower heights (m)", fill="black")
    for i, (label, height) in enumerate([("Eiffel", 330), ("Tokyo", 333), ("CN Tower", 553)]):
        left = 40 + i * 105
        draw.rectangle([left, 235 - height * 0.35, left + 60, 235], fill=("#d33", "#36c", "#3a3")[i])
        draw.text((left, 240), f"{label} {height}", fill="black")
    return _png(image)


def draw_pie_chart() -> bytes:
    """World electricity by source, 2024, as a pie chart."""
    image = Image.new("RGB", (300, 300), "white")
    draw = ImageDraw.Draw(image)
    start = 0.0
    for share, colour in [(0.35, "#555"), (0.23, "#c84"), (0.14, "#48c"), (0.09, "#4a4"), (0.07, "#ec3"), (0.12, "#a6c")]:
        draw.pieslice([30, 30, 270, 270], start * 360, (start + share) * 360, fill=colour)
        start += share
    draw.text((80, 8), "Electricity by source 2024", fill="black")
    return _png(image)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def run_client(address: str, admin_key: str) -> None:
    """What a customer's integration does, through the SDK: provision, ingest, search, ask."""
    from babelrag_client import Client, ImageDocument

    with Client(address, admin_key=admin_key) as operator:
        created = operator.admin.create_tenant("demo", key_label="make demo")
    print(f"\ncreated tenant 'demo' (API key {created.key.key_id}, shown once)")

    with Client(address, api_key=created.api_key) as client:
        print(f"\ningesting {CORPUS} and two charts the demo draws:")
        charts = [
            ImageDocument(draw_bar_chart(), document_id="tower-heights.png", language="en",
                          caption="Bar chart: heights of the Eiffel Tower (330 m), Tokyo Tower (333 m) and CN Tower (553 m)"),
            ImageDocument(draw_pie_chart(), document_id="electricity-mix.png", language="en",
                          caption="Pie chart: world electricity by source in 2024; solar about 7%"),
        ]
        report = client.ingest([CORPUS, *charts], tags=["demo"])
        for item in report:
            status = "stored" if item.ok else f"FAILED {item.error.code}: {item.error.message}"
            print(f"  {item.document_id:<24} {item.language or '-':>3}  {item.chunks} chunk(s)  {status}")

        print("\ncross-lingual search (German question; the corpus is in six languages):")
        for rank, hit in enumerate(client.search("Wie hoch ist der Eiffelturm?", top_k=3), 1):
            print(f"  {rank}. {hit.document_id:<24} score {hit.score:.3f}  {hit.snippet[:60]}")

        for language, question in QUESTIONS:
            print(f"\n[{language}] {question}\n  ", end="", flush=True)
            started = time.perf_counter()
            for event in client.ask(question, max_tokens=80):
                if not event.is_final:
                    sys.stdout.write(event.text.replace("\n", "\n  "))
                    sys.stdout.flush()
                    continue
                answer = event
            elapsed = time.perf_counter() - started
            print(
                f"\n  -- question {answer.question_language}, answer {answer.answer_language} "
                f"(detected {answer.detected_answer_language}, {'ok' if answer.answer_language_ok else 'MISMATCH'}), "
                f"{answer.completion_tokens} tokens in {elapsed:.1f}s, first token after {answer.timings.get('first_token', 0):.0f} ms"
            )
            cited = {c.number for c in answer.citations}
            for source in answer.context:
                mark = "*" if source.number in cited else " "
                print(f"  {mark}[{source.number}] {source.source.title or source.document_id} ({source.language})")


async def run_demo(profile: str, data: Path) -> int:
    from babelrag.gateway.server import Gateway
    from babelrag.gateway.settings import Settings
    from babelrag.paths import ProfileLayout

    layout = ensure_repository(profile, data)
    for warning in json.loads(layout.manifest.read_text()).get("warnings", []):
        print(f"WARNING: {warning}")
    demo_data = data / "demo"
    shutil.rmtree(demo_data, ignore_errors=True)
    from babelrag.triton.launcher import free_port

    settings = Settings(data_dir=demo_data, models_dir=ProfileLayout.of(data, profile).root.parent, profile=profile, port=free_port(), metrics_port=0)
    os.environ.pop("BABELRAG_ADMIN_KEY", None)
    gateway = Gateway(settings)
    print(f"starting the gateway and Triton ({profile} profile) ...", flush=True)
    await gateway.start()
    try:
        admin_key = gateway.admin_credential.path.read_text().strip()
        print(f"gateway on {settings.host}:{gateway.port}, Triton on {gateway.triton_url}")
        import asyncio

        await asyncio.to_thread(run_client, f"{settings.host}:{gateway.port}", admin_key)
    finally:
        await gateway.stop(grace_s=2)
    return 0
