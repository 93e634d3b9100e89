"""Pure codec libraries (no Flask, nothing else of the project): hardened XML, MIME, AS4."""
