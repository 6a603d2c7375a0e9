"""Retrieval stage (hybrid search on Milvus + rerank): not built yet, see issue 5."""
