"""The KTN chat protocol: wire vocabulary, pure core, router, server and client."""
