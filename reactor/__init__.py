"""A small single-threaded event loop on `selectors`: timers, TCP transports
and incremental JSON framing. Generic: it knows nothing about chat."""
