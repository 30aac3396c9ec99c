"""The web UI (``satchel server`` at ``/``, ``satchel ui`` for one person's embedded home)."""
