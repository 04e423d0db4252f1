"""Test harness: throwaway real servers on loopback and a way to run the collection's content."""
