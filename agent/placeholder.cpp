// replaced as the agent grows
