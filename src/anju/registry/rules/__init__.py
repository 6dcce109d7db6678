"""The registry's rules, one module per subject; each handler takes a :class:`~anju.registry.call.Call`."""
