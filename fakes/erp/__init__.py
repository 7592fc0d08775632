"""A fake ERP for the demo and the tests: one HTTP server, in the shapes of IXC Soft, RouterBox, SGP,
MK-Auth or Hubsoft (``fakes.erp.server``), over one set of demo records (``fakes.erp.data``)."""
