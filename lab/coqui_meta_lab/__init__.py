"""Experiment drivers: CPU-sized presets, the base-first compute-matched study and the demo. Nothing in the training
library or the voice tooling imports them."""
