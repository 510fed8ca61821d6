"""Local HTTP emulators of vendor APIs: the tests, local runs and the sandbox talk to them."""
