"""Clients of the Wazuh server API and the Wazuh indexer."""
