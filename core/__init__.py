"""Transfer Lens core: datasets, backbones, cached transfer values and their analysis.

Importing this package is cheap: TensorFlow is imported only by the modules that run a model.
"""

__version__ = "0.1.0"
