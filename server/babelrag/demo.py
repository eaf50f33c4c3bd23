"""``make demo``: the main job on the embedded defaults.

Builds the profile's models if missing, starts a local Triton, embeds questions and passages in
several languages through the ``text_embedding`` ensemble, an image the demo draws itself through
``image_embedding`` and captions through ``clip_text_embedding``, and prints similarity tables.
"""

from __future__ import annotations

import io
import json
import unicodedata
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from babelrag.cli import ensure_repository
from babelrag.triton.client import TritonEncoders
from babelrag.triton.launcher import TritonPorts, TritonServer

QUESTIONS = {
    "de": "Wie hoch ist der Eiffelturm?",
    "ja": "光合成とは何ですか？",
    "es": "¿Cuál es el río más largo de Sudamérica?",
}

PASSAGES = {
    "fr: tour Eiffel": "La tour Eiffel est une tour de fer puddlé de 330 mètres de hauteur située à Paris.",
    "zh: photosynthesis": "光合作用是植物利用阳光把二氧化碳和水转化为葡萄糖和氧气的过程。",
    "en: Amazon": "The Amazon is the largest river in South America by discharge and is about 6,400 km long.",
    "ar: desert": "الصحراء الكبرى هي أكبر صحراء حارة في العالم وتقع في شمال أفريقيا.",
    "ru: chess": "Шахматы — настольная логическая игра для двух игроков на доске из 64 клеток.",
}

CAPTIONS = ["a bar chart of tower heights", "ein Foto einer Katze", "一张红色圆形的图"]


def draw_chart() -> bytes:
    """A small labelled bar chart, drawn here so the demo needs no image files."""
    image = Image.new("RGB", (320, 240), "white")
    draw = ImageDraw.Draw(image)
    for i, (label, height) in enumerate([("Eiffel", 330), ("Tokyo", 333), ("CN", 553)]):
        left = 40 + i * 90
        draw.rectangle([left, 220 - height * 0.35, left + 50, 220], fill=("#d33", "#36c", "#3a3")[i])
        draw.text((left + 5, 222), label, fill="black")
    draw.text((100, 10), "Tower heights (m)", fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    while _display_width(text) > width:
        text = text[:-1]
    return text + " " * (width - _display_width(text))


def print_table(title: str, rows: dict[str, np.ndarray], columns: list[str]) -> None:
    print(f"\n{title}")
    width = max(8, max(len(c) for c in columns) + 2)
    print(" " * 46 + "".join(c.rjust(width) for c in columns))
    for name, values in rows.items():
        best = int(np.argmax(values)) if len(values) > 1 else -1
        cells = "".join((f"*{v:.3f}" if j == best else f"{v:.3f}").rjust(width) for j, v in enumerate(values))
        print(f"{_pad(name, 46)}{cells}")


async def run_demo(profile: str, data: Path) -> int:
    layout = ensure_repository(profile, data)
    manifest = json.loads(layout.manifest.read_text())
    for warning in manifest.get("warnings", []):
        print(f"WARNING: {warning}")
    server = TritonServer(layout.repository, ports=TritonPorts.free(), runtime_dir=layout.runtime)
    print(f"starting Triton on {layout.repository} ...", flush=True)
    with server:
        print(f"Triton ready at {server.grpc_url} (log: {server.log_path})")
        async with TritonEncoders(server.grpc_url) as encoders:
            await encoders.check_ready()
            questions = await encoders.embed_texts(list(QUESTIONS.values()), kind="query")
            passages = await encoders.embed_texts(list(PASSAGES.values()), kind="passage")
            similarity = questions @ passages.T
            print_table(
                "E5 cosine similarity, questions (rows) x passages (columns); * = best match",
                {f"{lang}: {q}": similarity[i] for i, (lang, q) in enumerate(QUESTIONS.items())},
                [name.split(":")[0] for name in PASSAGES],
            )
            image = await encoders.embed_images([draw_chart()])
            captions = await encoders.embed_clip_texts(CAPTIONS)
            print_table(
                "CLIP cosine similarity, captions (rows) x the drawn bar chart",
                {caption: captions[i] @ image.T for i, caption in enumerate(CAPTIONS)},
                ["chart"],
            )
            sources = ", ".join(f"{name}: {entry['source'].get('id', '?')}" for name, entry in manifest.get("models", {}).items())
            print(f"\ndims: text {questions.shape[1]}, clip {image.shape[1]}; profile {profile}; {sources}")
    return 0
