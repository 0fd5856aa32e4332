"""The Qt desktop application. Builds on guiapp.core; never re-implements the engine."""
