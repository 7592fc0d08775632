"""Notices ISP systems ask for (billing, contract events, SMS, campaigns) and the ERP adapters."""
