"""The operations: what the API, the CLI and the test kit ask of cdrstore, one function each.

This is the only code that composes store calls. Each operation takes the `Store` first, checks
what it is given against the domain's rules, and raises domain or store errors (never a status).
"""
