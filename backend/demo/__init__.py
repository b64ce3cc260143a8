"""The demo council: deterministic factories and the seed/demo_accounts commands."""
