"""Raw building blocks. Correct use needs care: prefer :mod:`skms.crypto`."""
