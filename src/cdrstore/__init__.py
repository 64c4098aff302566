"""cdrstore: store call detail records and serve them through the CINNOX-compatible call-detail API."""

__version__ = "0.1.0"
