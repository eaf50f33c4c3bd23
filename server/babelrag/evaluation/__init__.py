"""``babelrag-eval``: retrieval, language and answer quality of BabelRAG, measured through the gateway.

Modules
    squad        SQuAD-format files as test collections (paragraph = document, question = query)
    stack        the system under test: Triton + the real gateway in-process, or a running gateway
    retrieval    monolingual, cross-lingual and pooled (XQuAD-R) retrieval through the SDK
    metrics      Recall@k, MRR@10, nDCG@10, mAP@k, language bias, answer matching (pure functions)
    langid_eval  language identification accuracy of babelrag.text.langid on the questions
    answers      answer-language accuracy of the gateway's Ask
    mirage       MIRAGE's RAG adaptability metrics (noise vulnerability, context acceptability,
                 context insensitivity, context misinterpretation)
    report       results/<dataset>/<date>-<commit>.json, Markdown tables, PNG plots
    cli          the ``babelrag-eval`` command

See docs/EVALUATION.md. Importing the package imports nothing heavy.
"""
