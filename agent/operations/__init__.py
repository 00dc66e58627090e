"""What an operator does around the agent: install it as a service, carry data out by hand
where no link exists, and seed a demonstration month."""
