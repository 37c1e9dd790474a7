"""Unit tests: no network, no database (MockTransport/respx only for exact HTTP)."""
