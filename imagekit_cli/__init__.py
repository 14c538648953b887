"""imagekit-cli: fast, safe bulk upload and folder sync for ImageKit.io."""

__version__ = "0.1.0"
