"""Images to transfer values: the one preprocessing definition, the extractor that runs a
backbone over a dataset, the resumable cached `compute_transfer_values`, and feature sets
that are not a backbone's (raw pixels, imported arrays, concatenations)."""
