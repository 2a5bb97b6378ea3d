"""In-process fakes of outside HTTP APIs, built from their documented request/response shapes."""
