"""The union view of a layer stack (itself a Source), its changes, and recovery from it."""
