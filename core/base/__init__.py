"""Plumbing every stage uses: errors, paths, hashing, progress, TensorFlow set-up, the
array cache, atomic writes, manifest JSON and split codes. Imports nothing else from `core`."""
