"""CRM, marketing and outbound-webhook destinations, behind the shape in connectors.base."""
