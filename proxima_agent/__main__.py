from proxima_agent.cli import entry

entry()
