"""The line protocol that nc, telnet and `asyncchat join` speak."""
