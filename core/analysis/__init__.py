"""What is computed on transfer values: PCA reduction, the kNN graph, 2-D/3-D projections,
separability and data quality (suspected label errors, outliers, duplicates), the last with
heads trained through core.heads (the layer below)."""
