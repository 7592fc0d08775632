"""What changes spend: entries and their totals, and the rate card."""
