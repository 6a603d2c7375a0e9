"""`inferstack eval`: golden sets run through the real stages over the public HTTP API (an
in-process gateway, or a running one), with per-class metrics, confusion pairs and latency."""
