"""What Meta charges: the rate card, spend entries, totals and the live dashboard."""
