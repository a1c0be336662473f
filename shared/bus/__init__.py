"""The bus: stream names, the msgpack codec and the Redis streams transport."""
