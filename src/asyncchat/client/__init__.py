"""`asyncchat join`: the terminal client and piped mode."""
