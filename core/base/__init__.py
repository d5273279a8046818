"""Plumbing every stage uses: errors, paths, hashing, progress, TensorFlow set-up, the
array cache, atomic writes and split codes. Imports nothing else from `core`."""
