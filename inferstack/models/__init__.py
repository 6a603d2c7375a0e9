"""Everything that loads or trains a model: GGUF materialisation, the vLLM process supervisor,
the embedder, the intent and NER heads, the reranker, the guard's text classifier; training/
holds the data recipes and trainers."""
