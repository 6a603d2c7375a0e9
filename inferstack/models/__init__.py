"""Models: materialisation, the vLLM process supervisor, local encoders."""
