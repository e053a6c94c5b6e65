"""Agent tool security: model tool calls with arguments, pinned MCP tools, the kill switch, the flow guard."""
