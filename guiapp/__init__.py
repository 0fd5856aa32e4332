"""guiapp: a desktop studio for targeted adversarial noise on ImageNet classifiers."""

__version__ = "0.1.0"
