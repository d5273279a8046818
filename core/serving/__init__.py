"""Using trained models on new images: predictions with neighbours, and exports (the
end-to-end Keras model, transfer values, projections)."""
