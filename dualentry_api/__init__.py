"""The only package that speaks HTTP to DualEntry: typed client, vendored spec, sandbox."""
