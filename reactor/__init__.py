"""A small single-threaded event loop (on epoll, or `selectors` elsewhere: `poller`) and what
runs on it: timers and signals (`loop`), TCP transports (`tcp`), TLS over them (`tls`), incremental JSON
framing (`framing`), the RESP codec (`resp`) and a Redis client (`redis`).
Generic: it knows nothing about chat."""
