"""Real HTTP fakes of the providers' APIs, on 127.0.0.1, for tests and benchmarks."""
