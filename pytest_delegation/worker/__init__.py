"""What runs inside each worker. Imports only the standard library and pytest."""
