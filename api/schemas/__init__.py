"""API schemas (pydantic), kept apart from the domain and store types."""
