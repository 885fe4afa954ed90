"""Storage behind the core: the SQLite history file."""
