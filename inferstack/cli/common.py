"""What every command shares: loading settings, logging, the offline environment."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from inferstack.config import Settings, load_settings
from inferstack.config.cache import CacheLayout

EXIT_CONFIG = 2


def load(path: str | None) -> Settings:
    return load_settings(Path(path) if path else None)


def setup_logging(level: str) -> None:
    # transformers prints load reports and progress bars on stderr; keep them for debug only.
    if level != "debug":
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TQDM_DISABLE", "1")
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


def batch_settings(args: argparse.Namespace) -> Settings:
    """Settings for a one-shot command, with the offline env set and quiet logging."""
    settings = load(args.config)
    CacheLayout(settings.cache_dir).apply_to_process()
    setup_logging("warning")
    return settings
