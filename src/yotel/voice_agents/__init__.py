"""voice_agents."""
