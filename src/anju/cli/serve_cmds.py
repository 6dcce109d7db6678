"""Network-facing commands (serve, demo, tx, check); registered on the main app by import."""
