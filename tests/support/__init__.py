"""Test support: servers and helpers that the test setup starts itself."""
