"""inferstack: an inference-first, self-hosted chatbot stack behind an OpenAI-compatible gateway."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("inferstack")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+local"
