"""Emitters: pure functions ``Model -> {relative path: text}``, grouped by target system."""
