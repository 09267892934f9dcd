"""The bad-input matrix: every malformed, oversized, forged or abusive input, on every host and
transport, answered with its documented status or close code and no user code run."""
