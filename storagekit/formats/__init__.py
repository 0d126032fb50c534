"""Binary formats declared with construct; the only place construct is imported."""
