"""Pure chat logic: commands in, events and deliveries out. No sockets, no event loop."""
