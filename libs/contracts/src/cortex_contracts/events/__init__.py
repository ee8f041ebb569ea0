"""Event types, grouped by the stream that stores them."""
