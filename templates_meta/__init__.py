"""Meta message templates: the admin panel, sync with Meta, and template sending."""
