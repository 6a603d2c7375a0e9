"""Retrieval: chunking, loaders, the Milvus store (Lite or server), hybrid dense + BM25 search
with a cross-encoder rerank, and context assembly with numbered sources."""
