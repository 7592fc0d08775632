"""SMS through each company's own HTTP gateway: numbers, message parts, the gateway, the send services."""
