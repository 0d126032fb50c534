"""Container engines found in the evidence, each self-contained (design.md, "Engines")."""
