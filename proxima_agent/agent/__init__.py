"""The agent: the loop, model and provider setup, the offline planner, consent and permissions for LLM calls."""
