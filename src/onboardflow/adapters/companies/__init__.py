"""The companies register (New Zealand style)."""
