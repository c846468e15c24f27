"""The runtime shell: the engine runner, daemon, journal, config, inputs and logs."""
