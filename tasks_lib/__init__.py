"""invoke task modules, one namespace per area; tasks.py assembles them. Tasks only orchestrate."""
