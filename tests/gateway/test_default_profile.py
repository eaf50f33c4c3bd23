"""Cross-lingual retrieval through the whole gateway with the real multilingual-E5 (default profile)."""

from __future__ import annotations

import pytest

from babelrag.triton.launcher import ENCODER_MODELS, TritonPorts, TritonServer
from tests.conftest import build_profile
from tests.gateway.helpers import Api, text_item
from tests.gateway_harness import GatewayHandle

pytestmark = [pytest.mark.slow, pytest.mark.default_profile]

PASSAGES = [
    text_item("fr-eiffel", "La tour Eiffel est une tour de fer puddlé de 330 mètres de hauteur située à Paris, construite pour l'Exposition universelle de 1889.", title="Tour Eiffel"),
    text_item("es-amazonas", "El río Amazonas es el más caudaloso del mundo y desemboca en el océano Atlántico.", title="Amazonas"),
    text_item("zh-photosynthesis", "光合作用是植物利用阳光把二氧化碳和水转化为葡萄糖的过程。", title="光合作用"),
    text_item("en-chess", "Chess is a board game for two players played on a checkered board with 64 squares.", title="Chess"),
    text_item("ru-volga", "Волга — крупнейшая река в европейской части России, впадает в Каспийское море.", title="Волга"),
]


@pytest.fixture(scope="module")
def default_gateway(tmp_path_factory):
    layout = build_profile("default")
    root = tmp_path_factory.mktemp("default-gateway")
    triton = TritonServer(layout.repository, models=ENCODER_MODELS, ports=TritonPorts.free(), runtime_dir=root / "rt")
    triton.start()
    handle = GatewayHandle.launch(root / "data", layout.root.parent, triton.grpc_url, profile="default")
    yield handle
    handle.close()
    triton.stop()


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Wie hoch ist der Eiffelturm?", "fr-eiffel"),        # German question, French passage
        ("Welcher Fluss mündet ins Kaspische Meer?", "ru-volga"),  # German question, Russian passage
        ("植物如何利用阳光？", "zh-photosynthesis"),
        ("¿Cuántas casillas tiene un tablero de ajedrez?", "en-chess"),  # Spanish question, English passage
    ],
)
def test_questions_find_passages_in_other_languages(default_gateway, question, expected):
    api = Api(default_gateway.address, default_gateway.create_tenant(f"x{abs(hash(question)) % 100000}"))
    try:
        api.ingest(*PASSAGES)
        vector_only = api.search(question, top_k=5, mode=2)  # SEARCH_MODE_VECTOR: no shared words to lean on
        hybrid = api.search(question, top_k=5)
        assert vector_only.hits[0].document_id == expected, [(h.document_id, dict(h.signal_scores)) for h in vector_only.hits]
        assert hybrid.hits[0].document_id == expected
        top, runner_up = vector_only.hits[0].signal_scores["text"], vector_only.hits[1].signal_scores.get("text", 0.0)
        assert top > runner_up
    finally:
        api.close()
