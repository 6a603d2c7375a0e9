"""Training data recipes and fine-tuning for the intent classifier and the NER model."""
