"""Engine bridge: clients for game engines and camera trackers (see docs/architecture.md)."""
