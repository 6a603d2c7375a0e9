"""The chat/completions pipeline: the Stage interface, the Call the stages hand each other, the
runner, and the built-in stages. The stage order is data (`pipeline.stages`), built in the
lifespan from config."""
