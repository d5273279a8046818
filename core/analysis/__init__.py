"""What is computed on transfer values: PCA reduction, the kNN graph, 2-D/3-D projections,
separability, evaluation of predictions and suspected label errors."""
