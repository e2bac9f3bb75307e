"""Built-in demo services: specs and what goes with them (traffic models, typed facades)."""
