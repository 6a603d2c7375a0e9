"""Backends and deployment selection (the cost-aware policy arrives with issue 6)."""
