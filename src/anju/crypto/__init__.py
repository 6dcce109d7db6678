"""Keys, signatures, canonical JSON and hashing. Imports no other ``anju`` module but errors."""
