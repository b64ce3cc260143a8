"""Case data keys wrapped by the server keyring; device key envelopes."""
