"""Request and response schemas (pydantic) with the spec's validation messages."""
