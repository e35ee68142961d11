"""squall.auth's implementation: one module per protocol (see squall/auth.py)."""
