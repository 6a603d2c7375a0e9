"""The built-in stages of the chat/completions pipeline, one module each."""
