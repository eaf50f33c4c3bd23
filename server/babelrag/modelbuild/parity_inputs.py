"""Fixed inputs of the build's parity checks (the same every build, so figures are comparable)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

#: Mixed languages, scripts and lengths; the empty string exercises a specials-only sequence.
TEXTS: tuple[str, ...] = (
    "Wie hoch ist der Eiffelturm?",
    "La tour Eiffel est une tour de fer puddlé de 330 mètres de hauteur située à Paris, "
    "à l'extrémité nord-ouest du parc du Champ-de-Mars en bordure de la Seine.",
    "埃菲尔铁塔有多高？",
    "Эйфелева башня — металлическая башня в центре Парижа, самая узнаваемая его архитектурная "
    "достопримечательность.",
    "how much protein should a female eat",
    "मुझे एक कप चाय चाहिए",
    "إلى أي ارتفاع يصل برج إيفل؟",
    "",
)

#: Longer than every model's window, so truncation and the last position embedding are exercised.
LONG_TEXT = " ".join(
    ["The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris."] * 60
)

#: CLIP texts, including what open_clip's whitespace cleaning changes (runs of whitespace, HTML
#: entities, mojibake that ftfy repairs) and a caption longer than the 77-token context.
CLIP_TEXTS: tuple[str, ...] = (
    "a photo of a cat",
    "ein Foto von einem Hund, der im Schnee spielt",
    "  une   photo\tde la tour\nEiffel  ",
    "fish &amp; chips on a plate &lt;3",
    "cafÃ© au lait",
    "东京塔的夜景",
    "",
    " ".join(["a very long caption about a red bicycle leaning on a wall"] * 12),
)


def images() -> list[Image.Image]:
    """Deterministic synthetic images: sizes, aspect ratios and modes a server receives."""
    from PIL import Image

    rng = np.random.default_rng(20240601)
    out: list[Image.Image] = []
    shapes = ((240, 320, "RGB"), (300, 200, "RGB"), (224, 224, "RGB"), (97, 413, "L"), (64, 64, "RGBA"))
    for height, width, mode in shapes:
        yy, xx = np.mgrid[0:height, 0:width]
        base = np.stack([xx * 255 // max(width - 1, 1), yy * 255 // max(height - 1, 1), (xx + yy) % 256], axis=-1)
        noisy = np.clip(base + rng.integers(-40, 40, size=base.shape), 0, 255).astype(np.uint8)
        img = Image.fromarray(noisy, "RGB")
        if mode == "L":
            img = img.convert("L")
        elif mode == "RGBA":
            alpha = Image.fromarray((rng.integers(0, 256, size=(height, width))).astype(np.uint8), "L")
            img = img.convert("RGBA")
            img.putalpha(alpha)
        out.append(img)
    return out

#: (query, passage) pairs for the cross-encoder: questions against passages in their own and in
#: other languages and scripts, and an empty passage (an image without a caption) exercising the
#: pair template around nothing.
PAIRS: tuple[tuple[str, str], ...] = (
    (TEXTS[0], TEXTS[1]),
    (TEXTS[2], TEXTS[3]),
    (TEXTS[4], "Adult women need about 46 grams of protein per day."),
    (TEXTS[6], TEXTS[1]),
    (TEXTS[5], "चाय भारत का सबसे लोकप्रिय पेय है।"),
    (TEXTS[0], ""),
)
