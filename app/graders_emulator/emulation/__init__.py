"""Emulation: canned model replies, fault injection, sessions and the journal."""
