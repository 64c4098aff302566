"""Webhooks as CINNOX configures them (docs/webhooks.md): the events' bodies, their signatures, the
receivers' URLs and what may be connected to, and the sealing of the signing secrets at rest. No
store here: `ops/webhooks.py` and `ops/delivery.py` compose these with the store."""
