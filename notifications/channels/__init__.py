"""The channel adapters: each turns a message into one channel's request and reads its answer."""
