"""The model card every trained artefact carries: one JSON file beside the weights (data size,
labels, metrics, calibration, recipe hash), read by the loaders and by the artefact cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CARD = "model_card.json"


def read_card(folder: Path) -> dict[str, Any] | None:
    """The card in `folder`, or None when it is missing or unreadable."""
    try:
        card: dict[str, Any] = json.loads((folder / CARD).read_text())
    except (OSError, ValueError):
        return None
    return card
