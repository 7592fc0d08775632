"""ERP adapters: one interface (``base``), one module per ERP, and a fake with demo data."""
