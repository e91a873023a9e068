"""Text generation (`textgen`): Kneser-Ney trigram, LSTM and small GPT language
models over the `tokens` datasets, with a cached sampler and the course's
repetition heuristic. See family.py."""
