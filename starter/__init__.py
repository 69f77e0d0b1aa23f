"""Client library and CLI for case systems and operators."""
