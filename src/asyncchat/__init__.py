"""asyncchat: a multi-user chat daemon that nc and telnet users can join."""

__version__ = "0.1.0"
